import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import WebSocket from 'ws';
import { cutClosedConnections } from './close-grace.js';
import { chargeWebSocketControlFrames } from './websocket-control-frames.guard.js';

/** Waits for `predicate` (a condition, never a duration), failing after a generous deadline. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('chargeWebSocketControlFrames (a real Engine.IO server)', () => {
  let http: HttpServer;
  let io: Server;
  let url: string;
  const sockets: WebSocket[] = [];
  /** Control frames charged, per Engine.IO connection id; connections listed in `joined` have a budget. */
  const charged = new Map<string, number>();
  const joined = new Set<string>();

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { transports: ['websocket'], allowUpgrades: false });
    cutClosedConnections(io.engine as never);
    chargeWebSocketControlFrames(io.engine as never, (connection) => {
      const { id } = connection as unknown as { id: string };
      if (!joined.has(id)) return false;
      charged.set(id, (charged.get(id) ?? 0) + 1);
      return true;
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/socket.io/?EIO=4&transport=websocket`;
  });
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await io.close();
  });

  /** A client past the Engine.IO handshake, and its Engine.IO id. */
  async function connect(): Promise<{ ws: WebSocket; id: string; closed: () => boolean }> {
    const ws = new WebSocket(url);
    sockets.push(ws);
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => (closed = true));
    const open = await new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    const { sid } = JSON.parse(open.slice(1)) as { sid: string };
    return { ws, id: sid, closed: () => closed };
  }

  it('charges each ping and pong frame of a connection that has a budget, and answers its pings', async () => {
    const client = await connect();
    joined.add(client.id);
    let pongs = 0;
    client.ws.on('pong', () => (pongs += 1));
    client.ws.ping('a');
    client.ws.ping('b');
    client.ws.pong('c');
    await until(() => pongs === 2 && charged.get(client.id) === 3, 'two pongs and three charges');
    expect(client.closed()).toBe(false);
  });

  it('closes a connection that sends one before it has a budget', async () => {
    for (const send of [(ws: WebSocket) => ws.ping(), (ws: WebSocket) => ws.pong()]) {
      const client = await connect();
      send(client.ws);
      await until(client.closed, 'the connection to close');
      expect(charged.has(client.id)).toBe(false);
    }
  });
});

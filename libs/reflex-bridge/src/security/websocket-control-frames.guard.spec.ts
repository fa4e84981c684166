import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import WebSocket from 'ws';
import { cutClosedConnections } from './close-grace.js';
import { UnfinishedMessageBudget } from './unfinished-message.budget.js';
import { limitWebSocketControlFrames } from './websocket-control-frames.guard.js';

/** Waits for `predicate` (a condition, never a duration), failing after a generous deadline. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('limitWebSocketControlFrames (a real Engine.IO server)', () => {
  let http: HttpServer;
  let io: Server;
  let url: string;
  const sockets: WebSocket[] = [];
  /** Connections listed in `joined` (by Engine.IO id) have joined; `paused` holds each pause asked, per id. */
  const joined = new Set<string>();
  const paused = new Map<string, number[]>();
  const ALLOWANCE = { limit: 3, ttlMs: 600_000, blockDurationMs: 0 };

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { transports: ['websocket'], allowUpgrades: false });
    cutClosedConnections(io.engine as never);
    // As the event gateway wires it: the walk over each connection's inbound frames starts the count at its first
    // ping or pong frame, before `ws` reads it.
    const countControlFrames = limitWebSocketControlFrames(ALLOWANCE, {
      joined: (connection) => joined.has((connection as unknown as { id: string }).id),
      pause: (connection, forMs) => {
        const { id } = connection as unknown as { id: string };
        paused.set(id, [...(paused.get(id) ?? []), forMs]);
      },
    });
    new UnfinishedMessageBudget(64 * 1024 * 1024, 30_000).watch(io.engine as never, countControlFrames as never);
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

  it('answers the pings of a joined connection within its allowance and pauses nothing', async () => {
    const client = await connect();
    joined.add(client.id);
    let pongs = 0;
    client.ws.on('pong', () => (pongs += 1));
    client.ws.ping('a');
    client.ws.ping('b');
    client.ws.pong('c');
    // A fourth frame (over the allowance) shows the three before it were read and counted.
    client.ws.ping('d');
    await until(() => pongs === 3 && paused.has(client.id), 'three pongs, then a pause');
    expect(paused.get(client.id)).toHaveLength(1);
    expect(client.closed()).toBe(false);
  });

  it('asks to pause a joined connection for each frame past its allowance, until the window ends', async () => {
    const client = await connect();
    joined.add(client.id);
    for (let i = 0; i < ALLOWANCE.limit + 5; i++) client.ws.pong();
    await until(() => paused.get(client.id)?.length === 5, 'five pauses');
    for (const forMs of paused.get(client.id)!) {
      expect(forMs).toBeGreaterThan(0);
      expect(forMs).toBeLessThanOrEqual(ALLOWANCE.ttlMs);
    }
    expect(client.closed()).toBe(false);
  });

  it('listens to a connection only from its first control frame, and counts that one too', async () => {
    const client = await connect();
    joined.add(client.id);
    const { clients } = io.engine as unknown as { clients: Record<string, { request: { websocket: WebSocket } }> };
    const websocket = clients[client.id]!.request.websocket;
    // A browser's connection never sends one: nothing listens for them on it.
    expect(websocket.listenerCount('ping') + websocket.listenerCount('pong')).toBe(0);
    // One frame past the allowance, the first of them among the counted: exactly one pause.
    for (let i = 0; i <= ALLOWANCE.limit; i++) client.ws.ping();
    await until(() => paused.has(client.id), 'a pause for the frame past the allowance');
    expect(paused.get(client.id)).toEqual([expect.any(Number)]);
    expect(websocket.listenerCount('ping')).toBe(1);
    expect(websocket.listenerCount('pong')).toBe(1);
  });

  it('counts each connection on its own', async () => {
    const flooder = await connect();
    const other = await connect();
    joined.add(flooder.id).add(other.id);
    for (let i = 0; i < ALLOWANCE.limit + 1; i++) flooder.ws.pong();
    await until(() => paused.has(flooder.id), 'the flooder paused');
    let pongs = 0;
    other.ws.on('pong', () => (pongs += 1));
    for (let i = 0; i < ALLOWANCE.limit; i++) other.ws.ping();
    await until(() => pongs === ALLOWANCE.limit, 'the other connection answered');
    expect(paused.has(other.id)).toBe(false);
  });

  it('closes a connection that sends one before it joined', async () => {
    for (const send of [(ws: WebSocket) => ws.ping(), (ws: WebSocket) => ws.pong()]) {
      const client = await connect();
      send(client.ws);
      await until(client.closed, 'the connection to close');
      expect(paused.has(client.id)).toBe(false);
    }
  });
});

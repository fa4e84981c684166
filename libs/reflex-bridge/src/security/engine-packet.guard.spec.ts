import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import WebSocket from 'ws';
import { cutClosedConnections } from './close-grace.js';
import { closeOnStrayEnginePackets } from './engine-packet.guard.js';

/** A raw Engine.IO client on a WebSocket: the frames it received, and whether its connection ended. */
interface RawClient {
  ws: WebSocket;
  received: string[];
  closed: boolean;
}

/** Waits for `predicate` (a condition, never a duration), failing after a generous deadline. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('closeOnStrayEnginePackets (a real Engine.IO server)', () => {
  let http: HttpServer;
  let io: Server;
  let url: string;
  const clients: RawClient[] = [];
  /** The message packets the guard handed on, as the gateway's frame inspection receives them. */
  const messages: unknown[] = [];
  /** The connections whose heartbeat (a pong answering a ping) the guard handed on. */
  const heartbeats: unknown[] = [];

  beforeAll(async () => {
    http = createServer();
    // Pings every 30 ms, so that a client answers several in one test.
    io = new Server(http, { transports: ['websocket'], allowUpgrades: false, pingInterval: 30, pingTimeout: 10_000 });
    // As the event gateway installs it: the guard stops reading a connection it closes, so the close grace ends it.
    cutClosedConnections(io.engine as never);
    closeOnStrayEnginePackets(io.engine as never, (_connection, data) => void messages.push(data), (connection) => void heartbeats.push(connection));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/socket.io/?EIO=4&transport=websocket`;
  });
  afterAll(async () => {
    for (const client of clients) client.ws.terminate();
    await io.close();
  });

  /** A client past the Engine.IO handshake; it answers each ping with one pong when `answerPings`. */
  async function connect(answerPings: boolean): Promise<RawClient> {
    const client: RawClient = { ws: new WebSocket(url), received: [], closed: false };
    clients.push(client);
    client.ws.on('message', (data) => {
      const frame = String(data);
      client.received.push(frame);
      if (frame === '2' && answerPings) client.ws.send('3');
    });
    client.ws.on('close', () => (client.closed = true));
    client.ws.on('error', () => (client.closed = true));
    await until(() => client.closed || client.received.length > 0, 'the Engine.IO open packet');
    return client;
  }

  it('keeps a connection that sends messages and answers each ping once', async () => {
    const client = await connect(true);
    // Socket.IO messages: a join of the default namespace, then an event on it.
    client.ws.send('40');
    await until(() => client.received.some((frame) => frame.startsWith('40{')), 'the join');
    await until(() => client.received.filter((frame) => frame === '2').length >= 5, 'five pings answered');
    // Each answered ping is the connection's heartbeat; at least four of the five pongs have been read by now.
    await until(() => heartbeats.length >= 4, 'the heartbeats handed on');
    client.ws.send('42["still here"]');
    // Every message reaches the frame inspection, before Socket.IO decodes it; no ping answer does.
    await until(() => messages.includes('2["still here"]'), 'the event handed on');
    expect(messages).toContain('0');
    expect(messages.filter((data) => data !== '0' && data !== '2["still here"]')).toEqual([]);
    // Another client's stray packet is handled after this one's frames: its close says they were all read.
    const other = await connect(false);
    other.ws.send('6');
    await until(() => other.closed, 'the other connection to close');
    expect(client.closed).toBe(false);
  });

  it.each([
    ['noop', '6'],
    ['upgrade', '5'],
    ['close', '1'],
    ['pong never asked for', '3'],
  ])('closes a connection that sends a %s packet', async (_name, packet) => {
    const client = await connect(false);
    client.ws.send(packet);
    await until(() => client.closed, `the connection sending "${packet}" to close`);
  });

  it('closes a connection that answers a ping twice', async () => {
    const client = await connect(false);
    await until(() => client.received.includes('2'), 'a ping');
    client.ws.send('3');
    client.ws.send('3');
    await until(() => client.closed, 'the connection to close');
  });
});

import { afterAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import WebSocket from 'ws';
import { tapEnginePackets } from './engine-packet.taps.js';

/** Waits for `predicate` (a condition, never a duration), failing after a generous deadline. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface EngineConnection {
  eventNames(): Array<string | symbol>;
  emit(event: string, ...args: unknown[]): boolean;
}

/** A Socket.IO server on loopback, WebSocket only, pinging every 30 ms; `setUp` runs before it listens. */
async function startServer(setUp: (io: Server) => void): Promise<{ io: Server; http: HttpServer; url: string; connections: EngineConnection[] }> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], allowUpgrades: false, pingInterval: 30, pingTimeout: 10_000 });
  const connections: EngineConnection[] = [];
  io.engine.on('connection', (connection: EngineConnection) => void connections.push(connection));
  setUp(io);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { io, http, connections, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/socket.io/?EIO=4&transport=websocket` };
}

/** A raw Socket.IO client that joins the main namespace and answers pings; resolves once it has answered one. */
async function joinAndAnswerAPing(url: string, sockets: WebSocket[]): Promise<void> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  let pongs = 0;
  ws.on('message', (data) => {
    const frame = String(data);
    if (frame.startsWith('0')) ws.send('40');
    if (frame === '2') {
      ws.send('3');
      pongs++;
    }
  });
  await until(() => pongs > 0, 'a pong');
}

describe('tapEnginePackets (a real Socket.IO server)', () => {
  const sockets: WebSocket[] = [];
  const servers: Server[] = [];
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    for (const io of servers) await io.close();
  });

  it("sees every packet received and queued, and leaves the connection's listeners as bare Socket.IO's", async () => {
    const bare = await startServer(() => undefined);
    servers.push(bare.io);
    const received: string[] = [];
    const created: string[] = [];
    const tapped = await startServer((io) => {
      tapEnginePackets(io.engine, 'packet', (_connection, packet) => void received.push(packet.type));
      tapEnginePackets(io.engine, 'packetCreate', (_connection, packet) => void created.push(packet.type));
    });
    servers.push(tapped.io);
    await joinAndAnswerAPing(bare.url, sockets);
    await joinAndAnswerAPing(tapped.url, sockets);
    // The namespace's CONNECT packet and the pong; the CONNECT answer and the ping (whichever the server sent first).
    await until(() => received.includes('message') && received.includes('pong') && created.includes('message') && created.includes('ping'), 'the tapped packets');
    // Two more event names on a connection doubled V8's table of them: about 92 bytes per idle connection.
    expect(tapped.connections[0]!.eventNames().sort()).toEqual(bare.connections[0]!.eventNames().sort());
  });

  it("falls back to listeners on a connection whose emit another library replaced, and refuses a second tap of one event", async () => {
    const received: string[] = [];
    const { io, url, connections } = await startServer((server) => {
      server.engine.on('connection', (connection: EngineConnection) => {
        const inherited = connection.emit;
        connection.emit = function (this: EngineConnection, ...args: [string, ...unknown[]]): boolean {
          return inherited.apply(this, args);
        };
      });
      tapEnginePackets(server.engine, 'packet', (_connection, packet) => void received.push(packet.type));
      expect(() => tapEnginePackets(server.engine, 'packet', () => undefined)).toThrow('tapped already');
    });
    servers.push(io);
    await joinAndAnswerAPing(url, sockets);
    await until(() => received.includes('pong'), 'the tapped pong');
    expect(received[0]).toBe('message');
    expect(connections[0]!.eventNames()).toContain('packet');
  });
});

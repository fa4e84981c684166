import { afterEach, describe, expect, it } from '@jest/globals';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { PingState } from './fixtures/flood.states.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const PING = 'reflex___state____state.ping_state';

/** A raw client that asks to upgrade `path` and never closes its own side of the connection (as an attacker can). */
class HalfOpenUpgrade {
  /** The server ended its side (Engine.IO's answer to an upgrade nobody took, after a second). */
  ended = false;
  private readonly socket: Socket;

  constructor(url: string, path: string) {
    this.socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('error', () => (this.ended = true));
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connections the app's HTTP server holds open (upgraded ones included, until their socket closes). */
function openConnections(running: RunningApp): Promise<number> {
  const server = running.app.getHttpServer() as HttpServer;
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe('upgrade requests to other paths than the event path', () => {
  let running: RunningApp | undefined;
  const closers: Array<{ close?(): void; destroy?(): void }> = [];

  afterEach(async () => {
    for (const closer of closers.splice(0)) (closer.destroy ?? closer.close)!.call(closer);
    await running?.close();
    running = undefined;
  });

  it('that nothing answers are closed for good, not half-closed and held open with no timeout', async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [PingState] });
    const victim = await RawSocket.hydrated(running.url);
    closers.push(victim);
    const before = await openConnections(running);
    // Engine.IO ends each after a second without a word; nothing read them after the upgrade request, so the
    // server never saw their clients keep their side open, and held every one (past Node's header timeouts too).
    const upgrades = ['/', '/anything', '/_event', '/_eventx/?EIO=4&transport=websocket'].flatMap((path) =>
      Array.from({ length: 10 }, () => new HalfOpenUpgrade(running!.url, path)),
    );
    closers.push(...upgrades);
    await eventually('the server to end every unanswered upgrade', () => upgrades.filter((upgrade) => !upgrade.ended).length, (left) => left === 0);
    await eventually('the server to let go of their connections', () => openConnections(running!), (count) => count <= before);
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1);
  });

  it("leave alone an upgrade the app's own WebSocket server answers on its path", async () => {
    const chat = new WebSocketServer({ noServer: true });
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [PingState] }, (app) => {
      (app.getHttpServer() as HttpServer).on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (request.url === '/chat') chat.handleUpgrade(request, socket, head, (ws) => ws.on('message', (data) => ws.send(String(data))));
      });
    });
    closers.push({ close: () => chat.close() });
    const client = new WebSocket(`${running.url.replace('http', 'ws')}/chat`);
    closers.push({ close: () => client.terminate() });
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    // Once an unanswered upgrade was ended, Engine.IO's timer has run for the chat's upgrade too.
    const unanswered = new HalfOpenUpgrade(running.url, '/');
    closers.push(unanswered);
    await eventually('the unanswered upgrade to be ended', () => unanswered.ended, (ended) => ended);
    const echo = new Promise<string>((resolve) => client.once('message', (data) => resolve(String(data))));
    client.send('still here');
    expect(await echo).toBe('still here');
    expect(client.readyState).toBe(WebSocket.OPEN);
  });
});

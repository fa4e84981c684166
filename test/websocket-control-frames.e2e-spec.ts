import { afterEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { PingState } from './fixtures/flood.states.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawFlooder } from './support/raw-flood.js';
import { RawSocket } from './support/raw-socket.js';

const PING = 'reflex___state____state.ping_state';
const PING_OPCODE = 0x9;
const PONG_OPCODE = 0xa;

/** A masked WebSocket control frame (as a client must send it) carrying `payload` (at most 125 bytes). */
function controlFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Writes `frame` `count` times in one socket write, under the `ws` client's framing. */
function writeAtOnce(ws: WebSocket, frame: Buffer, count: number): void {
  (ws as unknown as { _socket: { write(data: Buffer): boolean } })._socket.write(Buffer.concat(Array.from({ length: count }, () => frame)));
}

describe('WebSocket ping and pong frames', () => {
  let running: RunningApp | undefined;
  const closers: Array<{ close(): void }> = [];

  const start = async (options: ReflexBridgeModuleOptions = {}) => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [PingState] });
    return running;
  };
  const victim = async () => {
    const socket = new RawSocket(running!.url);
    closers.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };
  /** The server's end of a client's WebSocket (the app runs in this process), and the bytes read from its TCP socket. */
  const serverSide = (token: string): { isPaused: boolean; bytesRead: number } | undefined => {
    const socket = [...running!.app.get(EventGateway).server!.sockets.values()].find((candidate) => candidate.handshake.query.token === token);
    const request = socket?.conn.request as unknown as { websocket: { isPaused: boolean }; socket: { bytesRead: number } } | undefined;
    return request && { isPaused: request.websocket.isPaused, bytesRead: request.socket.bytesRead };
  };
  /** A joined client that writes `count` unsolicited 125-byte pong frames in one go; the bytes written. */
  const pongFlood = async (count: number) => {
    const flooder = new RawFlooder(running!.url);
    closers.push(flooder);
    await flooder.connected();
    await flooder.hydrate();
    const frame = controlFrame(PONG_OPCODE, Buffer.alloc(125, 0x61));
    writeAtOnce((flooder as unknown as { ws: WebSocket }).ws, frame, count);
    return { flooder, bytes: frame.length * count };
  };

  afterEach(async () => {
    for (const closer of closers.splice(0)) closer.close();
    await running?.close();
    running = undefined;
  });

  it('count against an allowance of their own: a joined client flooding pong frames is no longer read, and another client is served', async () => {
    // The event budget untouched and far from spent: the allowance alone stops the flood.
    await start({ rateLimit: { controlFrames: { limit: 50, ttlMs: 600_000 } } });
    const other = await victim();
    // 20,000 unsolicited pongs (2.6 MB): uncounted, the server read and dropped them as fast as they came.
    const { flooder } = await pongFlood(20_000);
    await eventually('the server to stop reading the flooding connection', () => serverSide(flooder.token)?.isPaused, (paused) => paused === true);
    other.send(`${PING}.ping`);
    await other.untilVar(PING, 'pings', 1);
    // Paused for its allowance, not closed: it is read again once the window allows.
    expect(flooder.isClosed).toBe(false);
  });

  for (const [what, options] of [
    ['rateLimit.perConnection: false', { rateLimit: { perConnection: false } }],
    ['rateLimit: false', { rateLimit: false }],
  ] as const) {
    it(`stay bounded with ${what}: a pong flood is not read on while another client's events are answered`, async () => {
      // Counted against the event budget only, an app that turned it off read 153 MB of pongs in 5 s, and another
      // client's round trip went from 0.8 ms to 65 ms.
      await start(options);
      const other = await victim();
      // 100,000 pongs (13 MB) in one write: far more than the default allowance (100 per 10 s).
      const { flooder, bytes } = await pongFlood(100_000);
      await eventually('the server to stop reading the flooding connection', () => serverSide(flooder.token)?.isPaused, (paused) => paused === true);
      for (let pings = 1; pings <= 3; pings++) {
        other.send(`${PING}.ping`);
        await other.untilVar(PING, 'pings', pings);
      }
      // Served while most of the flood still waits in TCP buffers: the server reads the flooder about once a second.
      expect(serverSide(flooder.token)!.bytesRead).toBeLessThan(bytes / 2);
      expect(flooder.isClosed).toBe(false);
    });
  }

  it('close a connection that sends one before it joined the event namespace', async () => {
    await start();
    const ws = new WebSocket(`${running!.url.replace('http', 'ws')}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`, { perMessageDeflate: false });
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => (closed = true));
    closers.push({ close: () => ws.terminate() });
    await new Promise((resolve) => ws.once('message', resolve)); // Engine.IO's open packet
    writeAtOnce(ws, controlFrame(PONG_OPCODE, Buffer.alloc(0)), 1);
    // Socket.IO would otherwise keep it until its 45 s connectTimeout, reading whatever it sent.
    await eventually('the unjoined connection to close', () => closed, (isClosed) => isClosed);
  });

  it('a client that keeps its WebSocket alive with a ping now and then gets its pongs and its events answered', async () => {
    await start();
    const client = new RawFlooder(running!.url);
    closers.push(client);
    await client.connected();
    await client.hydrate();
    const ws = (client as unknown as { ws: WebSocket }).ws;
    let pongs = 0;
    ws.on('pong', () => (pongs += 1));
    for (let i = 1; i <= 3; i++) {
      writeAtOnce(ws, controlFrame(PING_OPCODE, Buffer.from(`keepalive ${i}`)), 1);
      await eventually(`pong ${i}`, () => pongs, (count) => count >= i);
    }
    client.send(client.eventPacket(`${PING}.ping`));
    await client.until(() => client.updates().some((update) => update.delta?.[PING]?.['pings_rx_state_'] === 1), 15_000, 'the event after the pings');
    expect(client.isClosed).toBe(false);
    expect(client.errors()).toEqual([]);
  });
});

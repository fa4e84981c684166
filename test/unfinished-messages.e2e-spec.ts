import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { HoardState } from './fixtures/hostile.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

/** A masked text frame's header announcing `length` payload bytes (8-byte length), its mask key all zeros. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  header.writeUInt32BE(length % 2 ** 32, 6);
  return header;
}

/** A joined WebSocket to the event server that writes raw bytes, as a script would. */
async function rawConnection(url: string): Promise<{ ws: WebSocket; write(data: Buffer): boolean; closed: () => boolean }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`, { perMessageDeflate: false });
  let closed = false;
  ws.on('close', () => (closed = true));
  ws.on('error', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send('40/_event,');
  const socket = (ws as unknown as { _socket: { write(data: Buffer): boolean } })._socket;
  return { ws, write: (data) => socket.write(data), closed: () => closed };
}

setFlagsFromString('--expose-gc');
/** V8's collector, for memory figures that count what is still referenced only. */
const gc = runInNewContext('gc') as () => void;

/** Memory of Buffers still referenced in this process, where the app under test runs (the frames' bytes). */
function held(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

function withBridge(options: ReflexBridgeModuleOptions): { readonly running: RunningApp; logger: CapturingLogger } {
  let running: RunningApp | undefined;
  const logger = new CapturingLogger();
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [HoardState] }, undefined, logger);
  });
  afterAll(async () => {
    await running?.close();
  });
  return {
    get running() {
      if (!running) throw new Error('the app is not started yet');
      return running;
    },
    logger,
  };
}

const MB = 1_000_000;

describe('unfinished inbound messages, all connections of a worker together (maxTotalUnfinishedInboundBytes)', () => {
  // The default deadline (30 s): only the budget may cut these connections within the test.
  const bridge = withBridge({ maxTotalUnfinishedInboundBytes: 16 * MB });
  const opened: Array<{ ws: WebSocket }> = [];
  afterEach(() => {
    for (const { ws } of opened.splice(0)) ws.terminate();
  });

  it('cuts the connections holding the most once the worker holds the budget, and other clients go on', async () => {
    const { running } = bridge;
    const gateway = running.app.get(EventGateway);
    const before = held();
    // 50 connections each send all but the last byte of a frame just under the hard bound (2 x maxMessageBytes):
    // the transport held them all until the heartbeat gave up (145 s), about 100 MB.
    const frame = 2 * MB - 100;
    const body = Buffer.alloc(frame - 1, 'a');
    for (let i = 0; i < 50; i++) {
      const connection = await rawConnection(running.url);
      opened.push(connection);
      // The same body Buffer for every connection: the test's own side holds one copy.
      connection.write(frameHeader(frame));
      connection.write(body);
    }
    // Every byte sent has arrived: held in an unfinished message, or dropped with its connection.
    const closed = () => opened.filter(({ ws }) => ws.readyState === WebSocket.CLOSED).length;
    const sent = ({ ws }: { ws: WebSocket }) => ws.readyState === WebSocket.CLOSED || (ws as unknown as { _socket: { writableLength: number } })._socket.writableLength === 0;
    await until(() => opened.every(sent) && 50 - closed() <= 9 && closed() * frame + gateway.unfinishedMessages.heldBytes >= 50 * (frame - 1), 'the frames to arrive');
    expect(gateway.unfinishedMessages.heldBytes).toBeLessThanOrEqual(16 * MB);
    // The cut connections' Buffers are freed once their close has run: the process comes back to the budget and what
    // parsing and bookkeeping cost besides. Without the budget the 50 frames held 114 MB here, for 145 s.
    const grown = await until(() => {
      const now = held() - before;
      return now < 40 * MB ? now : undefined;
    }, 'the Buffers of the cut connections to be freed');
    expect(grown).toBeLessThan(40 * MB);
    expect(opened.filter(({ ws }) => ws.readyState !== WebSocket.CLOSED).length).toBeLessThanOrEqual(9);
    // Another client's round trip is served.
    const tab = await RawSocket.hydrated(running.url);
    tab.socket.close();
    expect(bridge.logger.lines.some((line) => line.level === 'warn' && line.message.includes('maxTotalUnfinishedInboundBytes'))).toBe(true);
  });
});

describe('an inbound message begun and not finished (unfinishedMessageTimeoutMs)', () => {
  const bridge = withBridge({ unfinishedMessageTimeoutMs: 1000 });
  const opened: Array<{ ws: WebSocket }> = [];
  afterEach(() => {
    for (const { ws } of opened.splice(0)) ws.terminate();
  });

  it('cuts a connection whose message does not end within the deadline, a trickle or nothing, and keeps the others', async () => {
    const { running } = bridge;
    const gateway = running.app.get(EventGateway);
    const stalled = await rawConnection(running.url);
    const trickle = await rawConnection(running.url);
    opened.push(stalled, trickle);
    stalled.write(Buffer.concat([frameHeader(100_000), Buffer.alloc(50_000, 'a')]));
    trickle.write(frameHeader(100_000));
    // A byte every 100 ms: the message never ends, however long the client keeps sending.
    const timer = setInterval(() => trickle.write(Buffer.from('a')), 100);
    try {
      // Held until the heartbeat gave up (pingIntervalMs + pingTimeoutMs, 145 s); cut after the 1 s deadline here.
      await until(() => stalled.closed() && trickle.closed(), 'both connections to be cut');
    } finally {
      clearInterval(timer);
    }
    expect(gateway.unfinishedMessages.heldBytes).toBe(0);
    // A client whose messages end is not cut, however long it stays.
    const tab = await RawSocket.hydrated(running.url);
    tab.socket.close();
  });

  it('keeps a connection whose message arrives slowly but steadily (an honest slow uplink), and answers its event', async () => {
    const { running } = bridge;
    const slow = await rawConnection(running.url);
    opened.push(slow);
    const answers: string[] = [];
    slow.ws.on('message', (data) => answers.push(String(data)));
    await until(() => answers.some((answer) => answer.startsWith('40/_event,')) || undefined, 'the join to be answered');
    // An event of 100 kB sent at 20 kB/s (2 kB every 100 ms): five times the 1 s deadline. Before, the connection
    // was cut one second into the message, whatever its pace; a client on a 20 kB/s uplink sending an event near
    // the default maxMessageBytes (1 MB, 50 s) was cut the same way by the default deadline (30 s).
    const event = { name: 'reflex___state____state.hydrate', payload: { pad: 'a'.repeat(100_000) }, router_data: { pathname: '/', asPath: '/' } };
    const frame = Buffer.from(`42/_event,${JSON.stringify(['event', event])}`);
    slow.write(frameHeader(frame.length));
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= frame.length) return;
      slow.write(frame.subarray(sent, sent + 2000));
      sent += 2000;
    }, 100);
    try {
      await until(() => answers.some((answer) => answer.startsWith('42/_event,')) || slow.closed() || undefined, 'the event to be answered (or the connection cut)');
    } finally {
      clearInterval(timer);
    }
    expect(slow.closed()).toBe(false);
    expect(sent).toBeGreaterThanOrEqual(frame.length);
  });
});

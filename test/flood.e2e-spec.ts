import { afterEach, describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { Gate, gate, GateState, PingState, SequenceState, sequenceProgress } from './fixtures/flood.states.js';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import { REFUSAL_NOTICE_EVERY_MS } from '../libs/reflex-bridge/src/pipeline/refusal-notices.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawFlooder } from './support/raw-flood.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const SEQUENCE = `${ROOT}.sequence_state`;
const PING = `${ROOT}.ping_state`;
const GATE = `${ROOT}.gate_state`;

setFlagsFromString('--expose-gc');
/** V8's collector, for memory figures that count what is still referenced only. */
const gc = runInNewContext('gc') as () => void;

/** Heap memory still referenced in this process, where the app under test runs (parsed events are on the heap). */
function heapHeld(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * The limit of the tests that parse megabytes of frames, hold hundreds of megabytes and collect garbage to measure
 * them: 60 to 80 s each on 2 loaded cores here, past the suite's 60 s default. A deadline for their work, not a
 * speed target (those are measured in bench/).
 */
const HEAVY_TEST_MS = 180_000;

describe('one flooding socket against everyone else', () => {
  let running: RunningApp | undefined;
  const closers: Array<{ close(): void }> = [];

  // The per-connection rate limit is off here: these tests are about the queue's own limits and fairness (a
  // flood of thousands of events would otherwise also meet `rate_limited`, see rate-limit.e2e-spec.ts).
  const start = async (options: ReflexBridgeModuleOptions = {}) => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ rateLimit: { perConnection: false }, ...options })], providers: [SequenceState, PingState, GateState] });
    return running;
  };
  const flooder = async () => {
    const socket = new RawFlooder(running!.url);
    closers.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };
  const client = async () => {
    const socket = new RawSocket(running!.url);
    closers.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  /** The server's end of a client's WebSocket (the app runs in this process). */
  const serverWebSocket = (token: string): { isPaused: boolean } => {
    const sockets = running!.app.get(EventGateway).server!.sockets;
    const socket = [...sockets.values()].find((candidate) => candidate.handshake.query.token === token)!;
    return (socket.conn.request as unknown as { websocket: { isPaused: boolean } }).websocket;
  };

  /**
   * A socket presenting the token of another live one, whose note waits for admission (tokenHandoverGraceMs): what it
   * holds of the worker's maxTotalQueuedBytes, once held.
   */
  const fillAdmission = async (payload: Record<string, unknown>): Promise<number> => {
    const owner = await client();
    const twin = new RawSocket(running!.url, owner.token);
    closers.push(twin);
    await twin.connected();
    const pipeline = running!.app.get(EventPipeline);
    twin.send(`${GATE}.note`, payload);
    return eventually('the note to be held', () => pipeline.queuedBytes, (bytes) => bytes > 0);
  };

  afterEach(async () => {
    for (const socket of closers.splice(0)) socket.close();
    await running?.close();
    running = undefined;
  });

  it('serves another client while thousands of frames from one socket are still being worked through, refuses what is over the cap with busy, and applies the rest in order', async () => {
    await start();
    const attacker = await flooder();
    const victim = await client();
    const frames = 20_000;
    const before = attacker.received.length;
    const answered = () => attacker.received.length - before;

    // Every frame in one socket write: the server reads them in a few large chunks.
    attacker.writeAtOnce(Array.from({ length: frames }, (_, i) => attacker.eventPacket(`${SEQUENCE}.record`, { seq: i + 1 })));
    await attacker.until(() => answered() > 0, 30_000, 'the first answer to the flood');

    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1, 30_000);
    // The victim was answered while most of the flood was still waiting: it did not queue behind it.
    expect(answered()).toBeLessThan(frames);

    // Every frame gets exactly one answer: a delta for an accepted event, `busy` for a refused one.
    await attacker.until(() => answered() >= frames, 120_000, 'an answer to every frame of the flood');
    const errors = attacker.errors();
    const busy = errors.filter((error) => error.code === 'busy');
    expect(errors).toHaveLength(busy.length);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0]).toMatchObject({ code: 'busy', event: `${SEQUENCE}.record` });
    expect(busy[0].message).toMatch(/waiting/);
    // The user is shown it (a toast on a Reflex page, carrying the same structured error) once each time the queue
    // filled, not once per refused frame: hundreds of frames of one read are refused in each of those times.
    expect(attacker.presentations.length).toBeGreaterThan(0);
    expect(attacker.presentations.length).toBeLessThan(busy.length / 2);
    expect(attacker.presentations.at(-1)).toMatchObject({ events: [{ payload: { bridge_error: busy[0] } }] });

    // The accepted events all applied, one by one, in the order they were sent.
    const accepted = frames - busy.length;
    const applied = attacker.received
      .slice(before)
      .filter((message) => message.kind === 'event')
      .map((message) => message.body as { delta?: Record<string, Record<string, unknown>> })
      .map((update) => update.delta?.[SEQUENCE])
      .filter((vars): vars is Record<string, unknown> => vars !== undefined);
    expect(applied).toHaveLength(accepted);
    expect(applied.map((vars) => vars['count_rx_state_'])).toEqual(Array.from({ length: accepted }, (_, i) => i + 1));
    const sequence = applied.map((vars) => vars['last_rx_state_'] as number);
    expect(sequence.every((seq, i) => i === 0 || seq > sequence[i - 1])).toBe(true);
    expect(applied.some((vars) => 'outOfOrder_rx_state_' in vars)).toBe(false);

    // The process is up, the flooder's socket is still served, and so is a newcomer.
    expect(attacker.isClosed).toBe(false);
    attacker.send(attacker.eventPacket(`${SEQUENCE}.record`, { seq: frames + 1 }));
    await attacker.until(() => attacker.updates().some((update) => update.delta?.[SEQUENCE]?.['last_rx_state_'] === frames + 1), 30_000, 'one more event');
    const newcomer = await client();
    newcomer.send(`${PING}.ping`);
    await newcomer.untilVar(PING, 'pings', 1, 30_000);
  }, HEAVY_TEST_MS);

  it('works through a queue of events that never wait for I/O a few at a time, letting the event loop turn in between', async () => {
    await start();
    gate.current = new Gate();
    const attacker = await flooder();
    attacker.send(attacker.eventPacket(`${GATE}.hold`));
    await gate.current.entered;
    // 100 events fill the queue behind the held one; the 5 after them are refused, which tells us all were read.
    attacker.writeAtOnce(Array.from({ length: 105 }, (_, i) => attacker.eventPacket(`${SEQUENCE}.record`, { seq: i + 1 })));
    await attacker.until(() => attacker.errors().length === 5, 30_000, 'five busy errors');
    expect(attacker.errors().every((error) => error.code === 'busy')).toBe(true);

    // The queued handlers finish in microtasks. Chained as promises they would all run before the event loop
    // could serve anything else (another socket's frame, a timer); here a callback queued for the loop's next
    // turn runs while most of them are still waiting.
    const appliedBefore = sequenceProgress.applied;
    gate.current.release();
    const appliedAtNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(sequenceProgress.applied - appliedBefore)));
    expect(appliedAtNextTurn).toBeLessThan(100);

    await attacker.until(() => attacker.updates().some((update) => update.delta?.[SEQUENCE]?.['count_rx_state_'] === 100), 30_000, 'all 100 applied');
    const sequence = attacker
      .updates()
      .map((update) => update.delta?.[SEQUENCE]?.['last_rx_state_'])
      .filter((seq) => seq !== undefined && seq !== 0);
    expect(sequence).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('refuses client events over maxQueuedEvents with busy, stops reading the socket while the queue is full, and reads it again once it drained', async () => {
    await start({ maxQueuedEvents: 3 });
    gate.current = new Gate();
    const attacker = await flooder();
    attacker.send(attacker.eventPacket(`${GATE}.hold`));
    await gate.current.entered;

    // Five events while one is running: three wait, two are refused.
    attacker.writeAtOnce(Array.from({ length: 5 }, () => attacker.eventPacket(`${PING}.ping`)));
    await attacker.until(() => attacker.errors().length === 2, 30_000, 'two busy errors');
    expect(attacker.errors()).toEqual([
      expect.objectContaining({ code: 'busy', event: `${PING}.ping` }),
      expect.objectContaining({ code: 'busy', event: `${PING}.ping` }),
    ]);
    // Both refusals came while the queue was full once: the first is shown to the user, the second is not.
    expect(attacker.presentations).toHaveLength(1);

    // The queue is full, so the server stopped reading this socket (its WebSocket is paused): a frame sent now
    // waits in the TCP buffers; it is read, and runs, once the queue has drained.
    const serverSide = serverWebSocket(attacker.token);
    expect(serverSide.isPaused).toBe(true);
    attacker.send(attacker.eventPacket(`${PING}.ping`));
    gate.current.release();
    await attacker.until(() => attacker.updates().some((update) => update.delta?.[PING]?.['pings_rx_state_'] === 4), 30_000, 'the three queued pings and the one sent while full');
    expect(attacker.updates().some((update) => update.delta?.[GATE]?.['held_rx_state_'] === 1)).toBe(true);
    expect(attacker.errors()).toHaveLength(2);
    expect(serverSide.isPaused).toBe(false);
    attacker.send(attacker.eventPacket(`${PING}.ping`));
    await attacker.until(() => attacker.updates().some((update) => update.delta?.[PING]?.['pings_rx_state_'] === 5), 30_000, 'a ping after the queue drained');
    expect(attacker.errors()).toHaveLength(2);
  });

  it('reads a socket over its rate budget about once a second, refusing what it read, while another client is served', async () => {
    // Five events per minute per connection (hydrating takes two): a flood is refused by the budget, not by the queue.
    await start({ rateLimit: { perConnection: { limit: 5, ttlMs: 60_000 } } });
    const attacker = await flooder();
    const victim = await client();
    const frames = 20_000;
    attacker.writeAtOnce(Array.from({ length: frames }, () => attacker.eventPacket(`${PING}.ping`)));
    await attacker.until(() => attacker.errors().length > 0, 30_000, 'the first refusal');
    const refusedFrom = Date.now();
    expect(attacker.errors()[0]).toMatchObject({ code: 'rate_limited', event: `${PING}.ping` });

    // The server stopped reading the flooder: its frames wait in the TCP buffers, a read's worth refused per second.
    const serverSide = serverWebSocket(attacker.token);
    await attacker.until(() => serverSide.isPaused, 30_000, "the flooder's socket paused");
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1, 30_000);
    // The victim was answered while most of the flood was still unread, let alone refused.
    expect(attacker.errors().length).toBeLessThan(frames / 2);
    expect(attacker.errors().every((error) => error.code === 'rate_limited')).toBe(true);
    // Every refused frame got its error, but the block was shown to the user with its first refusal, and then at most
    // once per REFUSAL_NOTICE_EVERY_MS (one read a second is refused: on a loaded machine this may take longer than that).
    expect(attacker.errors().length).toBeGreaterThan(1);
    await attacker.until(() => attacker.presentations.length > 0, 30_000, 'the presentation of the first refusal');
    expect(attacker.presentations.length).toBeLessThanOrEqual(1 + Math.floor((Date.now() - refusedFrom) / REFUSAL_NOTICE_EVERY_MS) + 1);
    expect(attacker.presentations.length).toBeLessThan(attacker.errors().length);
    expect(attacker.presentations[0]).toMatchObject({ events: [{ payload: { bridge_error: attacker.errors()[0] } }] });
    expect(attacker.isClosed).toBe(false);
  });

  it('counts malformed frames against the rate budget too: a socket flooding them is paused like any other', async () => {
    await start({ rateLimit: { perConnection: { limit: 5, ttlMs: 60_000 } } });
    const attacker = await flooder();
    const victim = await client();
    const frames = 20_000;
    // Frames whose event is not an object: refused as invalid before any handler is looked up.
    attacker.writeAtOnce(Array.from({ length: frames }, () => `42/_event,["event",1]`));
    await attacker.until(() => attacker.errors().length > 0, 30_000, 'the first refusal');
    const refusedFrom = Date.now();
    expect(attacker.errors()[0]).toMatchObject({ code: 'invalid_event' });
    const serverSide = serverWebSocket(attacker.token);
    await attacker.until(() => serverSide.isPaused, 30_000, "the flooder's socket paused");
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1, 30_000);
    expect(attacker.errors().length).toBeLessThan(frames / 2);
    // Each frame got its error; the user was shown those within the budget (three: hydrating took two) and the
    // first past it, then at most one per REFUSAL_NOTICE_EVERY_MS, not the hundreds after.
    await attacker.until(() => attacker.errors().length >= 20 && attacker.presentations.length >= 4, 30_000, 'twenty refusals and four presentations');
    expect(attacker.presentations.length).toBeLessThanOrEqual(4 + Math.floor((Date.now() - refusedFrom) / REFUSAL_NOTICE_EVERY_MS) + 1);
    expect(attacker.isClosed).toBe(false);
  });

  it('reads nothing more from a socket while its token check waits, and then runs what it sent, in order', async () => {
    // The token is held by a live tab: the newcomer's admission waits for it to leave (at most the grace).
    await start({ tokenHandoverGraceMs: 60_000 });
    const holder = await client();
    const newcomer = new RawFlooder(running!.url, holder.token);
    closers.push(newcomer);
    await newcomer.connected();
    newcomer.writeAtOnce(Array.from({ length: 20 }, () => newcomer.eventPacket(`${PING}.ping`)));
    const sockets = running!.app.get(EventGateway).server!.sockets;
    const waiting = [...sockets.values()].find((socket) => socket.handshake.query.token === holder.token && socket.id !== holder.socket.id)!;
    const serverSide = (waiting.conn.request as unknown as { websocket: { isPaused: boolean } }).websocket;
    // Not read while admission waits: what the client sends meanwhile stays in TCP buffers, not in the server's memory.
    await eventually("the waiting socket's reads paused", () => serverSide.isPaused, (paused) => paused, 30_000);
    newcomer.writeAtOnce(Array.from({ length: 20 }, () => newcomer.eventPacket(`${PING}.ping`)));
    holder.close();
    await newcomer.until(() => newcomer.updates().some((update) => update.delta?.[PING]?.['pings_rx_state_'] === 40), 30_000, 'all forty pings');
    expect(newcomer.errors()).toEqual([]);
    expect(serverSide.isPaused).toBe(false);
  });

  it('counts a queued event by what its parsed values take, not by its frame alone', async () => {
    // A frame of empty objects parsed to about 21 times its size (64 bytes per `{}`, 3 bytes of JSON): counted by
    // their frames, six such events of 600 kB fitted in the 4 MB default queue, and one client's queue held 76 MB. The
    // decoder now refuses that many objects unparsed (maxMessageBytes / 20); a list of numbers, 2 bytes of JSON each,
    // carries as many values, each counted 64 bytes.
    await start();
    gate.current = new Gate();
    const user = await client();
    user.send(`${GATE}.hold`);
    await gate.current.entered;
    const payload = { text: 'x', rows: new Array(199_000).fill(0) };
    const before = heapHeld();
    for (let i = 0; i < 10; i++) user.send(`${GATE}.note`, payload);
    // Every event read was queued or refused: the server stopped reading the full queue, or refused the rest.
    await user.until(() => user.errors.length >= 4 || serverWebSocket(user.token).isPaused, 30_000, 'the queue to fill');
    const grown = heapHeld() - before;
    expect(user.errors.every((error) => error.code === 'busy')).toBe(true);
    // One such event (an empty queue takes any one): about 13 MB.
    expect(grown).toBeLessThan(30_000_000);
    gate.current.release();
    await user.untilVar(GATE, 'held', 1, 30_000);
  }, HEAVY_TEST_MS);

  it("bounds the events waiting in all clients' queues together by maxTotalQueuedBytes, refusing the rest with busy while other clients' events run", async () => {
    // Each token's queue takes one event of any size, and a client holds a token per connection (256 per address, from
    // as many loopback addresses as it likes): 12 connections each queuing ~13 MB (parsed) behind a slow handler made
    // the worker hold ~170 MB (1.3 GB per 100), with no total.
    await start({ maxTotalQueuedBytes: 30_000_000 });
    gate.current = new Gate();
    const users = await Promise.all(Array.from({ length: 12 }, () => client()));
    for (const user of users) user.send(`${GATE}.hold`);
    await gate.current.entered;
    const payload = { text: 'x', rows: new Array(199_000).fill(0) };
    const before = heapHeld();
    for (const user of users) user.send(`${GATE}.note`, payload);
    // Each note was queued (its token's queue now full: the socket is not read) or refused.
    for (const user of users) await user.until(() => user.errors.length > 0 || serverWebSocket(user.token).isPaused, 30_000, 'the note to be queued or refused');
    await eventually('the refusals to arrive', () => users.filter((user) => user.errors.length > 0).length, (count) => count >= 10);
    const grown = heapHeld() - before;
    const refused = users.filter((user) => user.errors.length > 0);
    expect(refused.flatMap((user) => user.errors).every((error) => error.code === 'busy' && error.event === `${GATE}.note`)).toBe(true);
    // Two of ~13.4 MB fit in 30 MB.
    expect(refused).toHaveLength(10);
    expect(grown).toBeLessThan(60_000_000);
    // Events that need not wait run meanwhile.
    const victim = await client();
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1, 30_000);
    gate.current.release();
    for (const user of users) await user.untilVar(GATE, 'held', 1, 30_000);
    expect(users.filter((user) => user.latest(GATE, 'notes') === 1)).toHaveLength(2);
  }, HEAVY_TEST_MS);

  it('counts events read while their socket waits for admission against maxTotalQueuedBytes', async () => {
    // A socket presenting a token another live socket holds is not admitted for tokenHandoverGraceMs, and what it sent
    // meanwhile waited, uncounted: 12 sockets presenting one tab's token, each sending a 600 kB frame of empty objects,
    // made the worker hold ~13 MB each, for as long as the grace lasts, every time they connect again.
    await start({ maxTotalQueuedBytes: 30_000_000, tokenHandoverGraceMs: 120_000 });
    const holder = await client();
    const payload = { text: 'x', rows: new Array(199_000).fill(0) };
    const before = heapHeld();
    const twins = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const twin = new RawSocket(running!.url, holder.token);
        closers.push(twin);
        await twin.connected();
        return twin;
      }),
    );
    for (const twin of twins) twin.send(`${GATE}.note`, payload);
    const sockets = running!.app.get(EventGateway).server!.sockets;
    const paused = (twin: RawSocket): boolean => {
      const socket = sockets.get(twin.socket.id!);
      return (socket?.conn.request as unknown as { websocket?: { isPaused: boolean } } | undefined)?.websocket?.isPaused === true;
    };
    // Each note was held or refused, and its socket is not read any more until admitted either way.
    for (const twin of twins) await twin.until(() => paused(twin), 30_000, 'the socket to be paused');
    await eventually('the refusals to arrive', () => twins.filter((twin) => twin.errors.length > 0).length, (count) => count >= 10);
    const grown = heapHeld() - before;
    const refused = twins.filter((twin) => twin.errors.length > 0);
    expect(refused.flatMap((twin) => twin.errors).every((error) => error.code === 'busy')).toBe(true);
    expect(refused).toHaveLength(10);
    expect(grown).toBeLessThan(60_000_000);
    // Other clients' events run meanwhile.
    holder.send(`${PING}.ping`);
    await holder.untilVar(PING, 'pings', 1, 30_000);
  }, HEAVY_TEST_MS);

  it("stops reading a socket whose events are refused for maxTotalQueuedBytes until its own queue moves on", async () => {
    // An event refused for the worker's total (its own queue far from full) left the socket read: every further frame
    // was decoded and answered busy, for as long as the client kept writing (rate budget off here: 10,000 frames in,
    // 10,000 busy out). A full queue of its own stops the reading; a full worker now does too, until one of the
    // client's own events has started (or a second passed: its heartbeat is read).
    await start({ maxTotalQueuedBytes: 2_000 });
    gate.current = new Gate();
    const flood = await flooder();
    flood.send(flood.eventPacket(`${GATE}.hold`));
    await gate.current.entered;
    const frames = 10_000;
    for (let write = 0; write < 5; write++) flood.writeAtOnce(Array.from({ length: frames / 5 }, () => flood.eventPacket(`${PING}.ping`)));
    await flood.until(() => serverWebSocket(flood.token).isPaused || flood.errors().length >= frames - 10, 30_000, 'the socket to be paused (or every frame refused)');
    expect(serverWebSocket(flood.token).isPaused).toBe(true);
    expect(flood.errors().every((error) => error.code === 'busy')).toBe(true);
    // Once its held event has run, the socket is read again: what it sent is worked through, queued or refused.
    gate.current.release();
    await flood.until(() => flood.updates().some((update) => update.delta?.[GATE]?.['held_rx_state_'] === 1), 30_000, 'the held event to run');
    await flood.until(() => flood.received.length >= frames + 1, 30_000, 'every frame to be answered');
    // Another client is served meanwhile.
    const other = await client();
    other.send(`${PING}.ping`);
    await other.untilVar(PING, 'pings', 1, 30_000);
  });

  it('stops reading a socket waiting for admission once its events are refused for maxTotalQueuedBytes, and shows the refusal once', async () => {
    // Events refused while their socket waits for admission are never handed to the pipeline, so no rate budget
    // counted them, and the socket went on being read: a socket presenting a held token, while the worker's waiting
    // events were at maxTotalQueuedBytes, got a busy and a toast for every frame it wrote, however fast it wrote
    // them, with the rate budget on (10,000 small frames in: 10,000 errors and 10,000 toasts out). Now the socket is
    // paused at the first refusal: what was already read is refused (about 500 here), the first one shown.
    const payload = { text: 'x', rows: Array.from({ length: 1000 }, () => ({})) };
    // What one note held during admission takes of the total (measured, not restated here), and a total it fills.
    await start({ tokenHandoverGraceMs: 120_000 });
    const held = await fillAdmission(payload);
    await running!.close();
    closers.splice(0).forEach((socket) => socket.close());
    await start({ rateLimit: {}, maxTotalQueuedBytes: held + 10, tokenHandoverGraceMs: 120_000 });
    const holder = await client();
    expect(await fillAdmission(payload)).toBe(held);
    const twin = new RawFlooder(running!.url, holder.token);
    closers.push(twin);
    await twin.connected();
    const sockets = running!.app.get(EventGateway).server!.sockets;
    const paused = (): boolean => {
      const socket = [...sockets.values()].find((candidate) => candidate.handshake.query.token === holder.token && candidate.id !== holder.socket.id);
      return (socket?.conn.request as unknown as { websocket?: { isPaused: boolean } } | undefined)?.websocket?.isPaused === true;
    };
    const frames = 10_000;
    for (let write = 0; write < 5; write++) twin.writeAtOnce(Array.from({ length: frames / 5 }, () => twin.eventPacket(`${PING}.ping`)));
    await twin.until(() => paused() || twin.errors().length >= frames, 30_000, 'the socket to be paused (or every frame refused)');
    expect(twin.errors().length).toBeGreaterThan(0);
    expect(twin.errors().every((error) => error.code === 'busy')).toBe(true);
    expect(paused()).toBe(true);
    expect(twin.presentations.length).toBeLessThanOrEqual(1);
    // Other clients' events run meanwhile.
    holder.send(`${PING}.ping`);
    await holder.untilVar(PING, 'pings', 1, 30_000);
  });

  it('holds an event read while its output waits by what its parsed values take, not by its frame alone', async () => {
    // An event read while more than a quarter of maxOutboundBytes waits for the client is held until it has read:
    // held events were counted by their frames (the first always held), and a 1 MB frame of empty objects held
    // ~21 MB of parsed objects per connection, ~1.3 GB across the 64 connections maxTotalOutboundBytes allows.
    await start({ maxOutboundBytes: 8_000_000 });
    const user = await client();
    const engine = user.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void; resume(): void } } };
    engine.ws._socket.pause();
    // Output the server sends on its own (a live change) until more than outputRefuseBytes (2 MB) waits for it.
    const sockets = running!.app.get(EventGateway).server!.sockets;
    const serverSocket = [...sockets.values()].find((candidate) => candidate.handshake.query.token === user.token)!;
    const conn = serverSocket.conn as unknown as { writeBuffer: Array<{ data?: unknown }>; transport: { socket: { bufferedAmount: number } } };
    const waiting = () => conn.transport.socket.bufferedAmount + conn.writeBuffer.reduce((sum, packet) => sum + (typeof packet.data === 'string' ? packet.data.length : 0), 0);
    for (let i = 0; i < 200 && waiting() < 2_500_000; i++) {
      serverSocket.emit('noise', 'x'.repeat(250_000));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(waiting()).toBeGreaterThan(2_000_000);
    const before = heapHeld();
    // Within the values an event may carry (more are refused unparsed, invalid_payload): 199,000 values take 12.7 MB.
    user.send(`${GATE}.note`, { text: 'x', rows: new Array(199_000).fill(0) });
    // The server read it (and stopped reading the socket for its output) and held or refused it.
    await user.until(() => serverWebSocket(user.token).isPaused, 30_000, 'the event to be read');
    const grown = heapHeld() - before;
    // Counted as a queued event is (64 bytes per value), it takes far more than maxMessageBytes: refused.
    expect(grown).toBeLessThan(8_000_000);
    engine.ws._socket.resume();
    await user.until(() => user.errors.some((error) => error.code === 'busy'), 30_000, 'the refusal');
    // An ordinary event is still held, then handled once the client has read.
    user.send(`${GATE}.note`, { text: 'hello' });
    await user.untilVar(GATE, 'notes', 1, 30_000);
    expect(user.latest(GATE, 'noteLength')).toBe(5);
  }, HEAVY_TEST_MS);

  it('bounds the events held for connections that do not read their output by maxTotalQueuedBytes, with real sockets', async () => {
    // Each connection that does not read may have events held for it until it has (the first up to twice
    // maxMessageBytes, counted with their parsed values): 12 such connections, each holding a note of ~1.9 MB as
    // counted, with a total of 12 MB. The heap figure is the process's, where the app under test runs.
    const total = 12_000_000;
    await start({ maxOutboundBytes: 8_000_000, maxTotalQueuedBytes: total });
    const users = await Promise.all(Array.from({ length: 12 }, () => client()));
    const sockets = running!.app.get(EventGateway).server!.sockets;
    for (const user of users) {
      (user.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } }).ws._socket.pause();
      const serverSocket = [...sockets.values()].find((candidate) => candidate.handshake.query.token === user.token)!;
      const conn = serverSocket.conn as unknown as { writeBuffer: Array<{ data?: unknown }>; transport: { socket: { bufferedAmount: number } } };
      const waiting = () => conn.transport.socket.bufferedAmount + conn.writeBuffer.reduce((sum, packet) => sum + (typeof packet.data === 'string' ? packet.data.length : 0), 0);
      // Output the server sends on its own until more than outputRefuseBytes (2 MB) waits for the client.
      for (let i = 0; i < 200 && waiting() < 2_500_000; i++) {
        serverSocket.emit('noise', 'x'.repeat(250_000));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(waiting()).toBeGreaterThan(2_000_000);
    }
    const pipeline = running!.app.get(EventPipeline);
    const before = heapHeld();
    const note = { text: 'x', rows: Array.from({ length: 28_000 }, () => ({})) };
    for (const user of users) user.send(`${GATE}.note`, note);
    // Each note was read (its socket then paused for its output) and held, or refused for the total.
    for (const user of users) await user.until(() => serverWebSocket(user.token).isPaused, 30_000, 'the note to be read');
    const held = pipeline.queuedBytes;
    const grown = heapHeld() - before;
    // Six fit (about 1.9 MB each as counted, 1.8 MB parsed), the other six are refused: the heap grew by about the
    // total (12.6 MB measured), where the 12 notes held would take 21 MB parsed, and 100 such connections 180 MB.
    expect(held).toBeLessThanOrEqual(total);
    expect(held).toBeGreaterThan(total / 2);
    expect(grown).toBeLessThan(1.5 * total);
    for (const user of users) (user.socket.io.engine.transport as unknown as { ws: { _socket: { resume(): void } } }).ws._socket.resume();
    // Once they read, the held notes run and the refused clients were told.
    await eventually('the held notes to run and the others to be refused', () => users.filter((user) => user.latest(GATE, 'notes') === 1 || user.errors.some((error) => error.code === 'busy')).length, (count) => count === 12);
    expect(users.filter((user) => user.latest(GATE, 'notes') === 1)).toHaveLength(6);
    await eventually('the held events to be given back', () => pipeline.queuedBytes, (bytes) => bytes === 0);
  }, HEAVY_TEST_MS);

  it('refuses a client event that would take its queue over maxQueuedBytes with busy', async () => {
    await start({ maxQueuedBytes: 20_000, maxMessageBytes: 100_000 });
    gate.current = new Gate();
    const user = await client();
    user.send(`${GATE}.hold`);
    await gate.current.entered;

    // About 8,100 bytes each: two fit in 20,000, the other three are refused.
    const text = 'x'.repeat(8000);
    for (let i = 0; i < 5; i++) user.send(`${GATE}.note`, { text });
    await user.until(() => user.errors.length === 3, 30_000, 'three busy errors');
    expect(user.errors.every((error) => error.code === 'busy' && error.event === `${GATE}.note`)).toBe(true);

    gate.current.release();
    await user.untilVar(GATE, 'notes', 2, 30_000);
    expect(user.latest(GATE, 'held')).toBe(1);
    expect(user.latest(GATE, 'noteLength')).toBe(8000);
  });
});

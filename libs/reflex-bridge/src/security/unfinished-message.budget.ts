import type { Logger } from '@nestjs/common';
import { InboundFrameTracker } from './inbound-frame.tracker.js';

/** The part of the `ws` WebSocket under an Engine.IO connection the budget uses. */
interface TrackedWebSocket {
  readonly isPaused?: boolean;
  terminate?(): void;
}

/** A stream's `emit`, as Node's `EventEmitter` has it. */
type Emit = (this: object, event: string | symbol, ...args: unknown[]) => boolean;

/** The part of a TCP socket the budget uses. */
interface InboundStream {
  emit: Emit;
  prependListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/**
 * The pace at which a message still arriving keeps its connection: at least this many bytes per second over each
 * `unfinishedMessageTimeoutMs`. Why: an honest client on a slow uplink (20 kB/s) sending an event near
 * `maxMessageBytes` (1 MB, 50 s) was cut by the 30 s deadline, while a slowloris (all but the last byte, then a
 * byte now and then) sends far less than this. What a client keeping to this pace can hold stays bounded by
 * `maxTotalUnfinishedInboundBytes`, and for as long as before: the heartbeat still ends the connection after
 * `pingIntervalMs` + `pingTimeoutMs` (145 s), since its answer to the server's ping waits behind the message.
 */
export const UNFINISHED_MESSAGE_MIN_BYTES_PER_SECOND = 1000;

/** An Engine.IO connection, as the budget sees it. */
interface EngineConnection {
  request?: { socket?: Partial<InboundStream>; websocket?: TrackedWebSocket };
  /** Engine.IO's: `closed` once its `close` was emitted. */
  readonly readyState?: string;
  on(event: 'close', listener: () => void): unknown;
  removeListener(event: 'close', listener: () => void): unknown;
}

/** On a connection's inbound stream: its Engine.IO connection. On that connection: its unfinished message, if any. */
const OWNER = Symbol('reflexBridgeUnfinishedMessageOwner');
const TRACKED = Symbol('reflexBridgeUnfinishedMessage');

/** A connection's inbound stream, as the budget's `data` listener sees it (`this`). */
type OwnedStream = InboundStream & { [OWNER]?: TrackedEngineConnection };

/** An Engine.IO connection the budget follows. */
type TrackedEngineConnection = EngineConnection & { [TRACKED]?: TrackedConnection };

/**
 * One connection's unfinished message, as the budget follows it: its frames, and what the budget counted of them.
 * It exists only while a message is unfinished: a connection between messages (every idle one) holds none.
 */
class TrackedConnection extends InboundFrameTracker {
  /** Bytes of its unfinished message the budget counts (the tracker's, as of the last chunk). */
  counted = 0;
  /** What {@link counted} was when the current deadline started: the message's progress since is `counted` less it. */
  countedAtClockStart = 0;
  deadline: NodeJS.Timeout | undefined;
  closed = false;
  connection!: TrackedEngineConnection;
  websocket!: TrackedWebSocket;
}

/**
 * Bounds what clients make a worker hold in WebSocket messages they began and did not finish. The `ws` library holds
 * every byte of a message until its last one arrives (up to the hard bound, twice `maxMessageBytes`); a client that
 * sends all but the last byte, then nothing (or a byte now and then), made the worker hold them until the heartbeat
 * gave up (`pingIntervalMs` + `pingTimeoutMs`, 145 s): 256 connections of one address, 512 MB.
 * - A message begun must end within `unfinishedMessageTimeoutMs` (time the server itself does not read the
 *   connection, paused for its queue or rate, does not count), or keep arriving: each `unfinishedMessageTimeoutMs`
 *   in which at least {@link UNFINISHED_MESSAGE_MIN_BYTES_PER_SECOND} of it arrived gives it another. Past that, the
 *   connection is cut.
 * - All connections of the worker together hold at most `maxTotalUnfinishedInboundBytes` in unfinished messages:
 *   past it, the connection holding the most is cut (at once: its bytes are freed with it).
 * The bytes are counted by following the frames of each connection's inbound stream ({@link InboundFrameTracker}),
 * one listener per connection before `ws` reads the chunk; a chunk that holds whole messages only costs a walk over
 * their frame headers.
 */
export class UnfinishedMessageBudget {
  /** The connections holding an unfinished message. */
  private readonly connections = new Set<TrackedConnection>();
  private total = 0;
  /** Connections cut for the budget or the deadline since the last warning: logged at most once per timeout. */
  private cutSinceLog = 0;
  private lastLogAt = 0;
  /** A tracker no connection holds yet: each chunk of a connection between messages is walked with it. */
  private spare: TrackedConnection | undefined;
  /** Told of a connection's ping and pong frames (see {@link watch}), before `ws` reads them. */
  private onPingOrPong: ((connection: EngineConnection) => void) | undefined;
  /**
   * The listeners of every connection, one function each for all (`this` is the stream, or the connection): closures
   * and a `close` listener per connection held about 700 bytes of every idle connection (closures, their context, a
   * `once` wrapper, a tracker, and the growth of the connection's `close` listener array past two).
   */
  private readonly onData: (this: OwnedStream, chunk: Buffer) => void;
  private readonly onClose: (this: TrackedEngineConnection) => void;
  /** The `emit` the connections' streams inherit, and the one they get instead, which calls {@link onData} first. */
  private inheritedEmit: Emit | undefined;
  private tappedEmit: Emit | undefined;

  constructor(
    private readonly maxTotalBytes: number,
    private readonly timeoutMs: number,
    private readonly logger?: Pick<Logger, 'warn'>,
  ) {
    const receive = (stream: OwnedStream, connection: TrackedEngineConnection, chunk: Buffer): void => this.receive(stream, connection, chunk);
    const forget = (tracked: TrackedConnection): void => this.forget(tracked);
    this.onData = function (this: OwnedStream, chunk: Buffer): void {
      const connection = this[OWNER];
      if (connection !== undefined) receive(this, connection, chunk);
    };
    this.onClose = function (this: TrackedEngineConnection): void {
      const tracked = this[TRACKED];
      if (tracked !== undefined) forget(tracked);
    };
  }

  /** Bytes of its message that must arrive within a period for a connection to get another one. */
  private get minProgressBytes(): number {
    return Math.max(1, (UNFINISHED_MESSAGE_MIN_BYTES_PER_SECOND * this.timeoutMs) / 1000);
  }

  /** Bytes held in unfinished messages by all the worker's connections. */
  get heldBytes(): number {
    return this.total;
  }

  /**
   * Follows every WebSocket connection `engine` opens. The walk over their frames also tells `onPingOrPong` of each
   * chunk holding a WebSocket ping or pong frame, before `ws` reads it: the control-frame allowance listens to a
   * connection only from then on.
   */
  watch<C extends EngineConnection>(engine: { on(event: 'connection', listener: (connection: C) => void): unknown }, onPingOrPong?: (connection: C) => void): void {
    // Sound: it is only ever given the connections `engine` gave the budget.
    this.onPingOrPong = onPingOrPong as ((connection: EngineConnection) => void) | undefined;
    engine.on('connection', (connection) => this.track(connection));
  }

  private track(connection: EngineConnection): void {
    const stream = connection.request?.socket as Partial<OwnedStream> | undefined;
    const websocket = connection.request?.websocket;
    // Another transport (no `ws` WebSocket over a TCP socket): nothing to follow.
    if (!websocket || typeof stream?.prependListener !== 'function') return;
    stream[OWNER] = connection;
    // Before `ws` reads the chunk: what it holds of an unfinished message is known before its own listener runs.
    // From the stream's `emit` rather than a listener before `ws`'s: a second `data` listener is an array of two
    // (64 bytes per idle connection), which Node also copies for every chunk. The stream's own `emit` is one more
    // property, held in the slots it already has for OWNER above; a stream whose `emit` is not the one the others
    // inherit (another library replaced it) gets the listener instead.
    const emit = stream.emit;
    if (typeof emit === 'function' && emit === (this.inheritedEmit ??= emit) && !Object.hasOwn(stream, 'emit')) {
      stream.emit = this.tappedEmit ??= tapData(this.onData, emit);
    } else stream.prependListener('data', this.onData);
  }

  /** A chunk of `connection`'s inbound stream, before `ws` reads it. */
  private receive(stream: OwnedStream, connection: TrackedEngineConnection, chunk: Buffer): void {
    let tracked = connection[TRACKED];
    if (tracked === undefined) {
      if (connection.readyState === 'closed') {
        // Closed: its `close` was emitted, nothing it sends is followed (nor would its tracker ever be dropped).
        stream[OWNER] = undefined;
        return;
      }
      const fresh = (this.spare ??= new TrackedConnection());
      const ended = fresh.consume(chunk);
      if (fresh.pingOrPong) this.sawPingOrPong(fresh, connection);
      // Whole messages only (nearly every chunk): nothing held, and the spare is between messages again.
      if (!fresh.unfinished) return;
      this.spare = undefined;
      tracked = this.adopt(fresh, connection);
      this.follow(tracked, ended);
      return;
    }
    if (tracked.closed) return;
    const ended = tracked.consume(chunk);
    if (tracked.pingOrPong) this.sawPingOrPong(tracked, connection);
    this.follow(tracked, ended);
  }

  private sawPingOrPong(tracker: TrackedConnection, connection: EngineConnection): void {
    tracker.pingOrPong = false;
    this.onPingOrPong?.(connection);
  }

  /** `connection` began a message it has not finished: the budget follows it until it ends or the connection closes. */
  private adopt(tracked: TrackedConnection, connection: TrackedEngineConnection): TrackedConnection {
    tracked.connection = connection;
    tracked.websocket = connection.request!.websocket!;
    connection[TRACKED] = tracked;
    connection.on('close', this.onClose);
    this.connections.add(tracked);
    return tracked;
  }

  /** Counts what `tracked` holds now that it consumed a chunk (`ended`: a message ended in it). */
  private follow(tracked: TrackedConnection, ended: boolean): void {
    const held = tracked.heldBytes;
    this.total += held - tracked.counted;
    tracked.counted = held;
    if (!tracked.unfinished) {
      this.release(tracked);
      return;
    }
    // A message that ended ends its deadline; one that began after it in this chunk gets its own.
    if (ended || held === 0) this.stopClock(tracked);
    if (held > 0 && tracked.deadline === undefined) this.startClock(tracked);
    if (this.total > this.maxTotalBytes) this.cutLargest();
  }

  /** `tracked`'s connection is between messages again: it holds nothing the budget follows. */
  private release(tracked: TrackedConnection): void {
    this.unfollow(tracked);
    tracked.connection[TRACKED] = undefined;
  }

  private unfollow(tracked: TrackedConnection): void {
    this.stopClock(tracked);
    this.connections.delete(tracked);
    tracked.connection.removeListener('close', this.onClose);
  }

  private startClock(tracked: TrackedConnection, countedAtStart = 0): void {
    // A message begun in this chunk counts this chunk's bytes of it as progress in its first period.
    tracked.countedAtClockStart = countedAtStart;
    tracked.deadline = setTimeout(() => {
      tracked.deadline = undefined;
      // The server paused reading it (its queue or its rate): the rest waits in TCP buffers, not on the client.
      if (tracked.websocket.isPaused === true) this.startClock(tracked, tracked.counted);
      // Still arriving at an honest pace (a slow uplink): another period, counted from here.
      else if (tracked.counted - tracked.countedAtClockStart >= this.minProgressBytes) this.startClock(tracked, tracked.counted);
      else this.cut(tracked, 'its message did not end within unfinishedMessageTimeoutMs, nor keep arriving at 1 kB/s');
    }, this.timeoutMs);
    tracked.deadline.unref();
  }

  private stopClock(tracked: TrackedConnection): void {
    if (tracked.deadline === undefined) return;
    clearTimeout(tracked.deadline);
    tracked.deadline = undefined;
  }

  /** Cuts the connections holding the most until the worker is within its budget. */
  private cutLargest(): void {
    while (this.total > this.maxTotalBytes) {
      let largest: TrackedConnection | undefined;
      for (const tracked of this.connections) if (!tracked.closed && (largest === undefined || tracked.counted > largest.counted)) largest = tracked;
      if (largest === undefined || largest.counted === 0) return;
      this.cut(largest, 'the worker held maxTotalUnfinishedInboundBytes in unfinished messages, this connection the most');
    }
  }

  /** Cuts `tracked` at once: `ws` frees what it held for its message; no close frame waits behind that message. */
  private cut(tracked: TrackedConnection, why: string): void {
    this.forget(tracked);
    tracked.websocket.terminate?.();
    this.cutSinceLog += 1;
    const now = Date.now();
    if (now - this.lastLogAt < this.timeoutMs) return;
    this.logger?.warn(`Cut ${this.cutSinceLog} WebSocket connection(s) holding an unfinished message: ${why}.`);
    this.cutSinceLog = 0;
    this.lastLogAt = now;
  }

  /** `tracked`'s connection closed, or was cut: what it held is no longer counted, and nothing it sends is followed. */
  private forget(tracked: TrackedConnection): void {
    if (tracked.closed) return;
    tracked.closed = true;
    this.total -= tracked.counted;
    tracked.counted = 0;
    // Still the connection's: whatever it sends until it is gone is ignored.
    this.unfollow(tracked);
  }
}

/** `inherited`, calling `onData` first with each `data` chunk (with the stream as `this`). */
function tapData(onData: (this: OwnedStream, chunk: Buffer) => void, inherited: Emit): Emit {
  return function (this: object, event: string | symbol, chunk?: unknown): boolean {
    if (event === 'data') onData.call(this as OwnedStream, chunk as Buffer);
    // eslint-disable-next-line prefer-rest-params -- every argument, as given, without an array per emit
    return inherited.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
  };
}

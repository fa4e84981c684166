import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { BRIDGE_ERROR_EVENT, type BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import { OUTPUT_BACKLOG_ERROR } from '../security/output-backlog.error.js';
import { WORKER_EVENTS_FULL_ERROR } from '../security/worker-events-full.error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import { carriesRouterVar, routerVarsShapeFor, withSplitRouterVars, type RouterVarsOption } from '../protocol/router-vars-shape.js';
import { PARSED_VALUE_BYTES, valuesUpTo } from '../protocol/parsed-values.js';
import type { SharedMessage } from '../protocol/shared-message.js';
import type { EventClient } from '../common/event-client.js';
import type { MaybePromise } from '../common/maybe-promise.js';
import { toEpochMs, toSinceStartMs } from '../common/since-start-clock.js';
import { ConnectionLimits, type ConnectionLimitSettings } from '../security/connection-limits.js';
import { cookieBudgetUnits } from '../security/cookie-budget-units.js';
import { SocketReadThrottle } from '../security/socket-read.throttle.js';
import { batchFlushedWrites } from '../security/flushed-writes.batch.js';
import type { OutputBudgetMember, WorkerOutputBudget } from '../security/worker-output-budget.js';
import type { TrackedSocket } from './session-tracker.service.js';
import { writeJsonEvent, writeStateUpdate } from './json-event.writer.js';
import { writeSharedMessage } from './shared-message.writer.js';

/** What a {@link SocketConnection} needs from the pipeline, shared by every connection. */
export interface SocketConnectionOwner {
  handle(client: EventClient, frame: unknown, bytes: number): MaybePromise<void>;
  isQueueFull(token: string): boolean;
  /** True while `token`'s queue is full, or an event of it was refused for the worker's `maxTotalQueuedBytes` and its events have not moved on. */
  stopsReading(token: string): boolean;
  connectionBlockedForMs(client: EventClient): number;
  /** Milliseconds until the connection's budget would let its next event through (see `EventRateLimiter.nextEventRefusedForMs`). */
  nextEventRefusedForMs(client: EventClient): number;
  onQueueDrained(token: string, callback: () => void): void;
  /** Takes `bytes` of the worker's `maxTotalQueuedBytes` for an event held here; false, taking nothing, past it. */
  reserveHeld(bytes: number): boolean;
  /** Gives back what {@link reserveHeld} took. */
  releaseHeld(bytes: number): void;
  /** Sends `error` to the client; `present: false` sends the structured error without what the presenter shows. */
  reportError(client: EventClient, error: BridgeError, eventName?: string, present?: boolean): void;
  /** Counts `units` against the connection's budget; the milliseconds until it lets messages through again (0: now). */
  chargeConnection(client: EventClient, units: number): number;
}

/** A listener of a socket event other than `event`, shared by every socket (`this` is the socket). */
export type ColdMessageListener = (this: Socket, ...args: unknown[]) => void;

/** What every connection of one gateway shares: its limits, the worker's output budget and the pipeline that handles its events. */
export interface SocketConnectionContext extends ConnectionLimitSettings {
  readonly owner: SocketConnectionOwner;
  readonly outputBudget: WorkerOutputBudget;
  /**
   * The socket events other than `event` the gateway answers (`ping`, `client_error`), by name: listened to on a
   * socket from its first message that is not an `event`. Socket.IO keeps a socket's listeners in a table that
   * grows past three names (about 95 bytes per idle connection); nearly every tab only ever sends `event`s.
   */
  readonly coldListeners: ReadonlyArray<readonly [event: string, listener: ColdMessageListener]>;
  /** The `routerVars` option: how the root state's router data goes out (by the client's Reflex version with `'auto'`). */
  readonly routerVars: RouterVarsOption;
}

/** Where a socket and its Engine.IO connection keep their connection, so listeners shared by every socket find it. */
const CONNECTION = Symbol('reflexBridgeConnection');

interface Carrier {
  [CONNECTION]?: SocketConnection;
}

const logger = new Logger('ReflexBridge');

/**
 * The longest a socket over its rate budget goes unread at a time: well within Engine.IO's ping timeout, so a
 * client blocked for longer (a long `blockDurationMs`) keeps its connection, and is read (and refused) about once
 * a second meanwhile.
 */
const MAX_BLOCKED_PAUSE_MS = 1_000;

/**
 * What few connections need, kept beside them rather than in a field of every one: the read throttle of a socket
 * whose token's queue filled up.
 */
const readThrottles = new WeakMap<SocketConnection, SocketReadThrottle>();

/** The longest a connection that is not read while its output drains goes without looking whether it has. */
const OUTPUT_DRAIN_CHECK_MS = 1_000;

/** Engine.IO's transport: `drain` once the packets it was given were handed to the kernel. */
interface DrainingTransport {
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Connections that refused an event while their output waited, until it drained: only the first refusal of each
 * time is presented to the user (the others carry the structured error alone). Few connections are ever in it.
 */
const refusingForBacklog = new WeakSet<SocketConnection>();
/** Connections whose events were refused while they waited for admission: only the first refusal is presented. */
const refusedInAdmission = new WeakSet<SocketConnection>();

/**
 * Events that arrived past `outputRefuseBytes` and wait, in order, for the output to drain (see
 * {@link SocketConnection.receive}). Few connections are ever in it; {@link holdingCount} says whether any is, so
 * that the hot path looks in it only then.
 */
const heldForBacklog = new WeakMap<SocketConnection, { events: Array<{ frame: unknown; bytes: number }>; bytes: number }>();
let holdingCount = 0;

/**
 * The events of one connection held while its output drains: a person clicking on a slow link sends one or two at a
 * time. Past them, or past `maxMessageBytes` of held events, each counted as a queued event is (its frame plus
 * `PARSED_VALUE_BYTES` per value it carries), the frames of the same read are refused (`busy`): a client that does
 * not read gets no more output, and holds little memory here. The first is held up to twice `maxMessageBytes`, so
 * any frame the transport lets through is held unless it carries many values (past 15,625 at the default).
 */
const MAX_HELD_EVENTS = 8;

/**
 * What an event held here takes, counted as a queued event is: its frame, and `PARSED_VALUE_BYTES` per value it
 * carries (parsed, a frame of empty objects takes 21 times its size), counting values no further than twice
 * `maxMessageBytes` worth.
 */
function heldSize(frame: unknown, bytes: number, maxMessageBytes: number): number {
  return bytes + PARSED_VALUE_BYTES * valuesUpTo(frame, Math.ceil((2 * maxMessageBytes) / PARSED_VALUE_BYTES));
}

/** The parts of an Engine.IO connection the output count reads. */
interface EngineConnection {
  writeBuffer: unknown[];
  transport: { socket?: { bufferedAmount?: unknown } };
}

/** What the connection's WebSocket was given and has not handed to the kernel yet (`ws`'s `bufferedAmount`). */
function inFlightBytes(conn: EngineConnection): number {
  const buffered = conn.transport.socket?.bufferedAmount;
  return typeof buffered === 'number' ? buffered : 0;
}

/** The hot `event` listener of every socket (Socket.IO calls a listener with its socket as `this`). */
function onEvent(this: Carrier, frame: unknown): void {
  this[CONNECTION]?.receive(frame);
}

/**
 * Everything the gateway keeps for one connected socket, in one object: the client the pipeline sees, its
 * admission, its limits (inbound frames, frame sizes, output: {@link ConnectionLimits}), and what the session
 * tracker holds. Its methods live on the prototype and its listeners are shared by every socket (the socket and its
 * Engine.IO connection carry it under a private symbol), so an idle connection
 * holds no closures: 10,000 idle tabs on a worker are 10,000 of these. Every field is set in the constructor, so
 * V8 keeps them all inside the object.
 */
export class SocketConnection extends ConnectionLimits<SocketConnectionContext> implements EventClient, TrackedSocket, OutputBudgetMember {
  /** The token the socket presented; admission may replace it with a fresh one (`new_token`). */
  token: string;
  /**
   * Admission while it runs (events that arrive meanwhile wait for it, in order), then whether the socket was
   * admitted (`true`: events go straight to the pipeline; `false`: it left or was refused, and nothing runs).
   */
  admission: Promise<boolean> | boolean = false;
  /** The session the socket was last seen in (kept by the session tracker). */
  sessionId: string | undefined = undefined;
  /** Kept by the pipeline (see {@link EventClient.routerHeaders}). */
  routerHeaders: Readonly<Record<string, string>> | undefined = undefined;
  routerIp: string | undefined = undefined;
  /** Kept by the rate limiter (see {@link EventClient.budgetHits}). */
  budgetHits: number | undefined = undefined;
  budgetEndsAt: number | undefined = undefined;
  /** Kept by the pipeline (see {@link EventClient.refusalShownAt}). */
  refusalShownAt: number | undefined = undefined;
  /**
   * {@link pageLoadedAt} on `sinceStartMs`'s clock: a small integer kept inside the object, where the `Date.now()`
   * time the pipeline sets is a number object of its own (16 bytes for every connection that loaded a page).
   */
  private pageLoadedSince: number | undefined = undefined;
  /** Kept by the worker's output budget (see {@link OutputBudgetMember.budgetCounted}). */
  budgetCounted = 0;

  constructor(
    readonly socket: Socket,
    readonly headers: Readonly<Record<string, string>>,
    context: SocketConnectionContext,
  ) {
    super(context, cookieBudgetUnits(headers.cookie));
    this.token = socket.handshake.query.token as string;
  }

  /** Kept by the pipeline (see {@link EventClient.pageLoadedAt}): a `Date.now()` time. */
  get pageLoadedAt(): number | undefined {
    const since = this.pageLoadedSince;
    return since === undefined ? undefined : toEpochMs(since);
  }

  set pageLoadedAt(at: number | undefined) {
    this.pageLoadedSince = at === undefined ? undefined : toSinceStartMs(at);
  }

  /** The socket id (read from the socket: one field fewer per connection). */
  get sid(): string {
    return this.socket.id;
  }

  /** When the socket connected: Socket.IO's handshake time (one field fewer per connection). */
  get connectedAt(): number {
    return this.socket.handshake.issued;
  }

  /** The connection of a socket {@link attach}ed to one, if any. */
  static of(socket: Socket): SocketConnection | undefined {
    return (socket as Socket & Carrier)[CONNECTION];
  }

  /** The connection attached to Engine.IO connection `conn` (the namespace joined on it), if any. */
  static ofEngine(conn: object): SocketConnection | undefined {
    return (conn as Carrier)[CONNECTION];
  }

  /**
   * True when `socket`'s Engine.IO connection already carries a connection of the namespace. Socket.IO clients
   * open a namespace once per Engine.IO connection (a reconnect comes after the old socket left); a client that
   * joins it again on the same one is not one of them, and each socket would watch every frame of the connection.
   */
  static sharesEngine(socket: Socket): boolean {
    return (socket.conn as Socket['conn'] & Carrier)[CONNECTION] !== undefined;
  }

  /**
   * A message packet of Engine.IO connection `conn`, before Socket.IO decodes it: the size limits of the connection
   * attached to it see the raw frame (the Engine.IO packet guard hands every connection's messages here).
   */
  static inspectEngineMessage(this: void, conn: object, data: unknown): void {
    (conn as Carrier)[CONNECTION]?.inspectFrame(data);
  }

  /**
   * A packet about to be queued on Engine.IO connection `conn`: counted against the output limits of the connection
   * attached to it (the gateway taps every connection's `packetCreate` for it, see `tapEnginePackets`).
   */
  static countEngineOutput(this: void, conn: object, packet: { data?: unknown }): void {
    const engine = conn as Carrier & EngineConnection;
    engine[CONNECTION]?.countOutput(packet.data, engine.writeBuffer.length, inFlightBytes(engine));
  }

  /**
   * Starts following: the output (through {@link countEngineOutput}) and the hot `event` listener (its raw inbound frames come through
   * {@link inspectEngineMessage}). The gateway attaches one connection per Engine.IO connection (see
   * {@link sharesEngine}).
   */
  attach(): void {
    const socket = this.socket as Socket & Carrier;
    const conn = socket.conn as Socket['conn'] & Carrier;
    socket[CONNECTION] = this;
    conn[CONNECTION] = this;
    socket.on('event', onEvent);
  }

  /**
   * Forgets the socket (its listeners find no connection any more, and {@link of} answers `undefined`) and stops
   * counting the output of the Engine.IO connection, which may outlive the socket (a client may join the namespace
   * again on it).
   */
  detach(): void {
    const socket = this.socket as Socket & Carrier;
    if (socket[CONNECTION] === this) socket[CONNECTION] = undefined;
    const conn = socket.conn as Socket['conn'] & Carrier;
    if (conn[CONNECTION] === this) {
      // Undefined rather than deleted: every connection keeps the same shape.
      conn[CONNECTION] = undefined;
    }
    this.settings.outputBudget.release(this);
  }

  get remoteAddress(): string {
    return this.socket.handshake.address;
  }

  /** The session tracker's view of this socket: the client itself. */
  get client(): EventClient {
    return this;
  }

  /**
   * Written as JSON without Socket.IO's search for binary parts (see {@link writeStateUpdate}). The root state's
   * router data in the shape this client reads (the `routerVars` option): decided when an update carries it (a
   * hydration, a page change), from the subprotocol Reflex's `state.js` announces its version as, so an idle
   * connection keeps no field for it.
   */
  emitUpdate(update: StateUpdate): void {
    const split = carriesRouterVar(update) && routerVarsShapeFor(this.settings.routerVars, this.headers['sec-websocket-protocol']) === 'split';
    writeStateUpdate(this.socket, split ? withSplitRouterVars(update) : update);
  }

  /** A message other sends repeat too: encoded once for all of them (see {@link writeSharedMessage}). */
  emitShared(shared: SharedMessage): void {
    writeSharedMessage(this.socket, shared);
  }

  emitError(error: BridgeErrorPayload): void {
    writeJsonEvent(this.socket, BRIDGE_ERROR_EVENT, error);
  }

  /** A frame the limits refused: told to the client as a structured error. */
  report(error: BridgeError): void {
    this.settings.owner.reportError(this, error);
  }

  /**
   * Closes the transport without Socket.IO's DISCONNECT packet, so the client sees a lost connection (`transport
   * close`) and reconnects, then hydrates again: Reflex's `state.js` does not reconnect after a server's `io server
   * disconnect`. The socket leaves at once, as with `disconnect(true)`: output not yet handed to the WebSocket is
   * dropped (the client hydrates again anyway), rather than waited for from a client that may not read it.
   */
  closeForReconnect(): void {
    this.socket.conn.close(true);
  }

  /** Messages that count against the budget besides events (see {@link ConnectionLimits.inspectFrame}). */
  chargeBudget(units: number): void {
    const blockedMs = this.settings.owner.chargeConnection(this, units);
    if (blockedMs > 0) this.pauseWhileBlocked(blockedMs);
  }

  nextEventRefusedForMs(): number {
    return this.settings.owner.nextEventRefusedForMs(this);
  }

  /**
   * Stops reading the socket for `forMs` (at most {@link MAX_BLOCKED_PAUSE_MS} at a time), as past its rate budget:
   * for what no budget of events counts (its WebSocket control frames past their allowance).
   */
  pauseReading(forMs: number): void {
    this.pauseWhileBlocked(forMs);
  }

  /** Counts the packet against the connection's own bound, then against the worker's (see {@link WorkerOutputBudget}). */
  override countOutput(data: unknown, queuedPackets: number, inFlightBytes: number): void {
    super.countOutput(data, queuedPackets, inFlightBytes);
    // Not once it was detached (its own bound may have just closed it): the budget released it for good then.
    if ((this.socket.conn as Socket['conn'] & Carrier)[CONNECTION] === this) this.settings.outputBudget.count(this, this.pendingOutputBytes + inFlightBytes);
  }

  /** The worker holds more unread output than `maxTotalOutboundBytes`, and this connection the most of it: closed. */
  workerOutputExceeded(backlog: number, workerBytes: number): void {
    logger.warn(
      `Closing the connection of client ${this.token.slice(0, 8)}…: ${backlog} bytes of output are waiting for it to read, the most of any, while this worker holds ${workerBytes} unread bytes for its clients (maxTotalOutboundBytes ${this.settings.outputBudget.limitBytes}).`,
    );
    this.closeForReconnect();
  }

  /** A message that is not an `event`, about to be decoded: the gateway's other listeners are put on the socket first. */
  otherMessage(): void {
    const socket = this.socket;
    const cold = this.settings.coldListeners;
    if (cold.length === 0 || socket.listenerCount(cold[0]![0]) > 0) return;
    for (const [event, listener] of cold) socket.on(event, listener);
  }

  /** More output waits for the client than `maxOutboundBytes`: it does not read, and is closed. */
  outputExceeded(pendingBytes: number): void {
    logger.warn(`Closing the connection of client ${this.token.slice(0, 8)}…: ${pendingBytes} bytes of output are waiting for it to read (maxOutboundBytes ${this.settings.maxOutboundBytes}).`);
    // A browser on a slow link comes back (state.js reconnects after a lost transport) and hydrates again.
    this.closeForReconnect();
  }

  /**
   * One decoded `event`: to the pipeline, once admission has passed (events that arrive during admission wait for
   * it, in order; a socket that left during admission runs nothing). The socket is not read while the token's
   * queue is full, nor while the connection is over its rate budget (at most {@link MAX_BLOCKED_PAUSE_MS} at a time),
   * nor while more than `outputPauseBytes` of output waits for the client (past `outputRefuseBytes` its events wait
   * for it to drain, and past {@link MAX_HELD_EVENTS} of them are refused with `busy`).
   */
  receive(frame: unknown): void {
    const bytes = this.takeFrameSize();
    const owner = this.settings.owner;
    const admission = this.admission;
    if (admission === true) {
      // Behind events held for the output (below): in order, after them.
      if (holdingCount > 0 && heldForBacklog.has(this)) {
        this.holdForBacklog(frame, bytes);
        return;
      }
      // A client that does not read what it is sent: not read either until it has (its frames wait in TCP buffers),
      // and what this read still brings waits past the larger bound instead of adding output, the first few events
      // of it; the rest is refused.
      const backlog = this.currentOutputBacklog();
      if (backlog > this.settings.outputPauseBytes) {
        this.readThrottle().pauseUntil((resume) => this.whenOutputDrained(resume));
        if (backlog > this.settings.outputRefuseBytes) {
          this.holdForBacklog(frame, bytes);
          return;
        }
      }
      void owner.handle(this, frame, bytes);
    } else if (admission !== false) {
      // Held until admission answers, counted against the worker's total as held events are: a socket presenting a
      // token another one holds waits tokenHandoverGraceMs, and sockets of one client presenting one token each held
      // a 1 MB frame of empty objects (~13 MB parsed) for that long, with no total.
      const size = heldSize(frame, bytes, this.settings.maxMessageBytes);
      if (owner.reserveHeld(size)) {
        void admission.then((stayed) => {
          owner.releaseHeld(size);
          return stayed ? owner.handle(this, frame, bytes) : undefined;
        });
      } else {
        // Refused: these frames never reach the pipeline, so no rate budget counts them. Shown to the user once per
        // admission (a read brings hundreds), and the socket is paused below as for a held event: it went on being
        // read, and 10,000 small frames got 10,000 errors and 10,000 toasts, however fast they came.
        const present = !refusedInAdmission.has(this);
        refusedInAdmission.add(this);
        owner.reportError(this, WORKER_EVENTS_FULL_ERROR, undefined, present);
        batchFlushedWrites(this.socket.conn);
      }
      // Until admission answers (it may wait seconds for a token's old socket to leave), the socket is not read:
      // what the client sends meanwhile waits in TCP buffers instead of in promises here, which no queue bounds.
      this.readThrottle().pauseUntil((resume) => void admission.then(resume, resume));
      return;
    } else return;
    if (owner.stopsReading(this.token)) {
      this.pauseForQueue();
      return;
    }
    const blockedMs = owner.connectionBlockedForMs(this);
    if (blockedMs > 0) this.pauseWhileBlocked(blockedMs);
  }

  /**
   * Its queue is full, or one of its events was refused for the worker's total: not read until its queue has drained.
   * Refused for the total, its own queue far from full, it is read again once one of its events has started, which is
   * all it can wait for, or after a second (its heartbeat is read, as past its rate budget: a tab whose handler streams
   * for minutes keeps its connection); it was read on, every frame of a flood answered `busy`. A method of its own, so
   * that the callbacks kept until then hold no frame of {@link receive} (a refused one, up to ~21 MB parsed).
   */
  private pauseForQueue(): void {
    const owner = this.settings.owner;
    const token = this.token;
    if (owner.isQueueFull(token)) {
      this.readThrottle().pauseUntil((resume) => owner.onQueueDrained(token, resume));
    } else {
      this.readThrottle().pauseUntil((resume) => {
        let resumed = false;
        const once = (): void => {
          if (resumed) return;
          resumed = true;
          clearTimeout(timer);
          resume();
        };
        const timer = setTimeout(once, MAX_BLOCKED_PAUSE_MS).unref();
        owner.onQueueDrained(token, once);
      });
    }
    // What was already read is refused: its answers leave in batches.
    batchFlushedWrites(this.socket.conn);
  }

  /**
   * Over its rate budget: what it sends meanwhile would only be refused, so it waits in TCP buffers instead, read
   * again at the latest after MAX_BLOCKED_PAUSE_MS (a paused socket reads no heartbeat either).
   */
  private pauseWhileBlocked(blockedMs: number): void {
    this.readThrottle().pauseUntil((resume) => setTimeout(resume, Math.min(blockedMs, MAX_BLOCKED_PAUSE_MS)).unref());
    batchFlushedWrites(this.socket.conn);
  }

  /** True while more than `outputRefuseBytes` of output waits for the client (see {@link EventClient.outputBacklogged}). */
  outputBacklogged(): boolean {
    return this.currentOutputBacklog() > this.settings.outputRefuseBytes;
  }

  /**
   * Refuses an event for the output waiting; only the first refusal until it drained is presented to the user. The
   * refusal watches the drain itself: the read pause cannot (a socket without a WebSocket to pause, long polling, or
   * one already paused for its queue or its rate), and the next backlog's first refusal would go unshown for good.
   */
  refuseForBacklog(eventName?: string): void {
    const present = !refusingForBacklog.has(this);
    if (present) {
      refusingForBacklog.add(this);
      this.whenOutputDrained(() => refusingForBacklog.delete(this));
    }
    this.settings.owner.reportError(this, OUTPUT_BACKLOG_ERROR, eventName, present);
  }

  /**
   * An event that arrived past `outputRefuseBytes`: held until the output drained, then handled, in order with the
   * others held. Held rather than refused: the output may be live changes the server sent on its own, faster than a
   * slow link carries them, and the user's click would otherwise be dropped with a toast. Past
   * {@link MAX_HELD_EVENTS} (or `maxMessageBytes` of held events, counted with their parsed values), refused.
   */
  private holdForBacklog(frame: unknown, bytes: number): void {
    let held = heldForBacklog.get(this);
    if (!held) {
      const events: Array<{ frame: unknown; bytes: number }> = [];
      const holding = { events, bytes: 0 };
      heldForBacklog.set(this, (held = holding));
      holdingCount++;
      this.whenOutputDrained(() => {
        heldForBacklog.delete(this);
        holdingCount--;
        // Handed on (the queue counts them again if they wait there) or dropped with their client.
        this.settings.owner.releaseHeld(holding.bytes);
        if (!this.socket.connected) return;
        for (const event of events) void this.settings.owner.handle(this, event.frame, event.bytes);
      });
    }
    // Counted as a queued event is: parsed, a frame of empty objects takes 21 times its size, and a 1 MB one held
    // 21 MB here (per connection of a client that does not read: up to 64 of them within maxTotalOutboundBytes).
    const limit = this.settings.maxMessageBytes;
    const size = heldSize(frame, bytes, limit);
    // Then against the worker's total: 64 connections within maxTotalOutboundBytes, from as many addresses as a
    // client has, each held up to ~2 MB here.
    if (
      (held.events.length > 0 ? held.events.length >= MAX_HELD_EVENTS || held.bytes + size > limit : size > 2 * limit) ||
      !this.settings.owner.reserveHeld(size)
    ) {
      this.refuseForBacklog();
      return;
    }
    held.events.push({ frame, bytes });
    held.bytes += size;
  }

  /** What waits for the client now: Engine.IO's queue and what its WebSocket has not handed to the kernel. */
  currentOutputBacklog(): number {
    const conn = this.socket.conn as unknown as EngineConnection;
    return super.outputBacklog(conn.writeBuffer.length, inFlightBytes(conn));
  }

  /**
   * Calls `resume` once at most half of `outputPauseBytes` waits for the client, or it has left: looked at each
   * time the transport has handed a batch to the kernel (its `drain`), and at least every
   * {@link OUTPUT_DRAIN_CHECK_MS} (a connection that closed drains no more).
   */
  whenOutputDrained(resume: () => void): void {
    const transport = (this.socket.conn as unknown as { transport: DrainingTransport }).transport;
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      if (this.socket.connected && this.currentOutputBacklog() > this.settings.outputPauseBytes / 2) {
        timer ??= setTimeout(() => {
          timer = undefined;
          check();
        }, OUTPUT_DRAIN_CHECK_MS).unref();
        return;
      }
      transport.off('drain', check);
      if (timer !== undefined) clearTimeout(timer);
      resume();
    };
    transport.on('drain', check);
    check();
  }

  private readThrottle(): SocketReadThrottle {
    let throttle = readThrottles.get(this);
    if (!throttle) readThrottles.set(this, (throttle = new SocketReadThrottle(this.socket)));
    return throttle;
  }
}

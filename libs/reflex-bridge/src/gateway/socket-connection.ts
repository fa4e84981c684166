import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { BRIDGE_ERROR_EVENT, type BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import type { EventClient } from '../common/event-client.js';
import type { MaybePromise } from '../common/maybe-promise.js';
import { InboundFrameGuard, type InboundFrameGuardHooks } from '../security/inbound-frame-guard.js';
import { EventFrameSizeMeter } from '../security/event-frame-size.meter.js';
import { OutboundBufferLimit, type OutboundBufferHooks, type OutboundConnection } from '../security/outbound-buffer-limit.js';
import { SocketReadThrottle } from '../security/socket-read.throttle.js';
import type { TrackedSocket } from './session-tracker.service.js';

/** What a {@link SocketConnection} needs from the pipeline, shared by every connection. */
export interface SocketConnectionOwner {
  handle(client: EventClient, frame: unknown, bytes: number): MaybePromise<void>;
  isQueueFull(token: string): boolean;
  onQueueDrained(token: string, callback: () => void): void;
  reportError(client: EventClient, error: BridgeError): void;
}

/** The gateway's limits, one object shared by every connection of a gateway. */
export interface SocketConnectionLimits {
  /** The namespace the frame sizes are read for. */
  namespace: string;
  maxMessageBytes: number;
  maxOutboundBytes: number;
}

/** Where a socket keeps its connection, so listeners shared by every socket find it. */
const CONNECTION = Symbol('reflexBridgeConnection');

interface Carrier {
  [CONNECTION]?: SocketConnection;
}

const logger = new Logger('ReflexBridge');

/** A message packet of the Engine.IO connection (Socket.IO calls it with the connection as `this`). */
function onPacket(this: Carrier, packet: { type: string; data?: unknown }): void {
  if (packet.type === 'message') this[CONNECTION]?.inspectFrame(packet.data);
}

/** The hot `event` listener of every socket (Socket.IO calls a listener with its socket as `this`). */
function onEvent(this: Carrier, frame: unknown): void {
  this[CONNECTION]?.receive(frame);
}

/**
 * Everything the gateway keeps for one connected socket, in one object: the client the pipeline sees, its
 * admission, the hooks of its frame guard and output limit, and what the session tracker holds. Its methods live
 * on the prototype and its listeners are shared by every socket (the socket and its Engine.IO connection carry it
 * under a private symbol), so an idle connection holds no closures: 10,000 idle tabs on a worker are 10,000 of
 * these. Every field is set in the constructor, so V8 keeps them all inside the object.
 */
export class SocketConnection implements EventClient, InboundFrameGuardHooks, OutboundBufferHooks, TrackedSocket {
  /** The token the socket presented; admission may replace it with a fresh one (`new_token`). */
  token: string;
  readonly sid: string;
  /** Set once admission has passed: events then go straight to the pipeline. */
  isAdmitted = false;
  /** Admission while it runs: events that arrive meanwhile wait for it, in order. Cleared once it settled. */
  admission: Promise<boolean> | undefined = undefined;
  /** The session the socket was last seen in (kept by the session tracker). */
  sessionId: string | undefined = undefined;
  private readonly frames: InboundFrameGuard;
  private readonly frameSizes: EventFrameSizeMeter;
  private readonly output: OutboundBufferLimit;
  /** Made the first time the token's queue fills up: most connections never need one. */
  private reading: SocketReadThrottle | undefined = undefined;
  /** A listener of its own, only when the Engine.IO connection already carries another of these. */
  private ownPacketListener: ((packet: { type: string; data?: unknown }) => void) | undefined = undefined;

  constructor(
    readonly socket: Socket,
    private readonly owner: SocketConnectionOwner,
    readonly headers: Readonly<Record<string, string>>,
    private readonly limits: SocketConnectionLimits,
  ) {
    this.token = socket.handshake.query.token as string;
    this.sid = socket.id;
    this.frames = new InboundFrameGuard(limits.maxMessageBytes, this);
    this.frameSizes = new EventFrameSizeMeter(limits.namespace, limits.maxMessageBytes);
    this.output = new OutboundBufferLimit(limits.maxOutboundBytes, this);
  }

  /** The connection of a socket {@link attach}ed to one, if any. */
  static of(socket: Socket): SocketConnection | undefined {
    return (socket as Socket & Carrier)[CONNECTION];
  }

  /**
   * Starts listening: the raw frames (the size limits see them before Socket.IO decodes them), the output
   * watcher, and the hot `event` listener.
   */
  attach(): void {
    const socket = this.socket as Socket & Carrier;
    const conn = socket.conn as Socket['conn'] & Carrier;
    socket[CONNECTION] = this;
    if (conn[CONNECTION] === undefined) {
      conn[CONNECTION] = this;
      conn.on('packet', onPacket);
    } else {
      this.ownPacketListener = (packet) => {
        if (packet.type === 'message') this.inspectFrame(packet.data);
      };
      conn.on('packet', this.ownPacketListener);
    }
    this.output.watch(conn as unknown as OutboundConnection);
    socket.on('event', onEvent);
  }

  /**
   * Forgets the socket (its listeners find no connection any more, and {@link of} answers `undefined`) and stops
   * watching the Engine.IO connection, which may outlive the socket (a client may join the namespace again on it).
   */
  detach(): void {
    const socket = this.socket as Socket & Carrier;
    if (socket[CONNECTION] === this) socket[CONNECTION] = undefined;
    const conn = socket.conn as Socket['conn'] & Carrier;
    if (this.ownPacketListener) {
      conn.off('packet', this.ownPacketListener);
      this.ownPacketListener = undefined;
    } else if (conn[CONNECTION] === this) {
      // Undefined rather than deleted: every connection keeps the same shape.
      conn[CONNECTION] = undefined;
      conn.off('packet', onPacket);
    }
    this.output.unwatch(conn as unknown as OutboundConnection);
  }

  get remoteAddress(): string {
    return this.socket.handshake.address;
  }

  /** The session tracker's view of this socket: the client itself. */
  get client(): EventClient {
    return this;
  }

  emitUpdate(update: StateUpdate): void {
    this.socket.emit('event', update);
  }

  emitError(error: BridgeErrorPayload): void {
    this.socket.emit(BRIDGE_ERROR_EVENT, error);
  }

  /** A frame the guard refused: told to the client as a structured error. */
  report(error: BridgeError): void {
    this.owner.reportError(this, error);
  }

  disconnect(): void {
    this.socket.disconnect(true);
  }

  /** More output waits for the client than `maxOutboundBytes`: it does not read, and is closed. */
  outputExceeded(pendingBytes: number): void {
    logger.warn(`Closing the connection of client ${this.token.slice(0, 8)}…: ${pendingBytes} bytes of output are waiting for it to read (maxOutboundBytes ${this.limits.maxOutboundBytes}).`);
    this.socket.disconnect(true);
  }

  /** One inbound Engine.IO `message` packet's data, before Socket.IO decodes it. */
  inspectFrame(data: unknown): void {
    this.frames.inspect(data);
    this.frameSizes.record(data);
  }

  /**
   * One decoded `event`: to the pipeline, once admission has passed (events that arrive during admission wait for
   * it, in order; a socket that left during admission runs nothing). The socket is not read while the token's
   * queue is full.
   */
  receive(frame: unknown): void {
    const bytes = this.frameSizes.next();
    if (this.frames.takeDropped()) return;
    const owner = this.owner;
    if (this.isAdmitted) void owner.handle(this, frame, bytes);
    else if (this.admission) void this.admission.then((stayed) => (stayed ? owner.handle(this, frame, bytes) : undefined));
    else return;
    if (owner.isQueueFull(this.token)) (this.reading ??= new SocketReadThrottle(this.socket)).pauseUntil((resume) => owner.onQueueDrained(this.token, resume));
  }
}

/** The parts of an Engine.IO connection the limit listens to. */
export interface OutboundConnection {
  on(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): unknown;
  off(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): unknown;
  readonly transport: { on(event: 'drain', listener: () => void): unknown; off(event: 'drain', listener: () => void): unknown };
}

/** What the limit tells its owner. */
export interface OutboundBufferHooks {
  /** Called once, when more than the limit is waiting: the owner closes the connection. */
  outputExceeded(pendingBytes: number): void;
}

/** Where a watched connection and its transport keep their limit, so one listener serves every connection. */
const LIMIT = Symbol('outboundBufferLimit');

interface Carrier {
  [LIMIT]?: OutboundBufferLimit;
}

/** `packetCreate` of every watched connection (Engine.IO calls it with the connection as `this`). */
function onPacketCreate(this: Carrier, packet: { data?: unknown }): void {
  this[LIMIT]?.add(packet.data);
}

/** `drain` of every watched transport: everything written was handed to the kernel. */
function onDrain(this: Carrier): void {
  this[LIMIT]?.drained();
}

/**
 * Bounds what the server holds for one client that does not read: every packet queued for the connection adds
 * its size; the transport's `drain` (everything handed to the kernel) sets the count back to zero. A client that
 * stops reading while it keeps asking (large hydrates, say) would otherwise make the server buffer without end;
 * past `maxBytes` of unsent output {@link OutboundBufferHooks.outputExceeded} runs once (the gateway closes the
 * connection).
 *
 * Sizes are counted in string length (UTF-16 units) for text frames and bytes for binary ones: cheap, and close
 * enough for a bound of megabytes.
 *
 * Memory: an idle worker holds one of these per connection, so it holds no closures. The connection and its
 * transport carry the limit under a private symbol and share two listener functions; only a second watcher of the
 * same Engine.IO connection (a client that joined the namespace twice on one connection) gets listeners of its own.
 */
export class OutboundBufferLimit {
  private pending = 0;
  private exceeded = false;
  /** Listeners of its own, when the connection already carried another limit. */
  private ownListeners: { packet: (packet: { data?: unknown }) => void; drain: () => void } | undefined = undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly hooks: OutboundBufferHooks,
  ) {}

  /**
   * Starts counting `connection`'s output. The Engine.IO connection can outlive the Socket.IO socket (a client may
   * join the namespace again on it): call {@link unwatch} when the socket goes.
   */
  watch(connection: OutboundConnection): void {
    const carrier = connection as OutboundConnection & Carrier;
    const transport = connection.transport as OutboundConnection['transport'] & Carrier;
    if (carrier[LIMIT] === undefined && transport[LIMIT] === undefined) {
      carrier[LIMIT] = this;
      transport[LIMIT] = this;
      connection.on('packetCreate', onPacketCreate);
      transport.on('drain', onDrain);
      return;
    }
    this.ownListeners = { packet: (packet) => this.add(packet.data), drain: () => this.drained() };
    connection.on('packetCreate', this.ownListeners.packet);
    transport.on('drain', this.ownListeners.drain);
  }

  /** Stops counting `connection`'s output (the one given to {@link watch}). */
  unwatch(connection: OutboundConnection): void {
    const carrier = connection as OutboundConnection & Carrier;
    const transport = connection.transport as OutboundConnection['transport'] & Carrier;
    if (this.ownListeners) {
      connection.off('packetCreate', this.ownListeners.packet);
      transport.off('drain', this.ownListeners.drain);
      this.ownListeners = undefined;
      return;
    }
    if (carrier[LIMIT] !== this) return;
    // Set to undefined rather than deleted: every connection keeps the same shape.
    carrier[LIMIT] = undefined;
    transport[LIMIT] = undefined;
    connection.off('packetCreate', onPacketCreate);
    transport.off('drain', onDrain);
  }

  /** Bytes queued and not yet handed to the kernel, as counted. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Counts one packet queued for the connection. */
  add(data: unknown): void {
    if (data === undefined) return;
    this.pending += typeof data === 'string' ? data.length : ((data as { byteLength?: number }).byteLength ?? 0);
    if (this.pending > this.maxBytes && !this.exceeded) {
      this.exceeded = true;
      this.hooks.outputExceeded(this.pending);
    }
  }

  /** Everything queued so far was handed to the kernel. */
  drained(): void {
    this.pending = 0;
  }
}

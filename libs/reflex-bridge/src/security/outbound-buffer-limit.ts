/** The parts of an Engine.IO connection the limit listens to. */
export interface OutboundConnection {
  on(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): unknown;
  off(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): unknown;
  readonly transport: { on(event: 'drain', listener: () => void): unknown; off(event: 'drain', listener: () => void): unknown };
}

/**
 * Bounds what the server holds for one client that does not read: every packet queued for the connection adds
 * its size; the transport's `drain` (everything handed to the kernel) sets the count back to zero. A client that
 * stops reading while it keeps asking (large hydrates, say) would otherwise make the server buffer without end;
 * past `maxBytes` of unsent output `onExceeded` runs once (the gateway closes the connection).
 *
 * Sizes are counted in string length (UTF-16 units) for text frames and bytes for binary ones: cheap, and close
 * enough for a bound of megabytes.
 */
export class OutboundBufferLimit {
  private pending = 0;
  private exceeded = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onExceeded: (pendingBytes: number) => void,
  ) {}

  /**
   * Starts counting `connection`'s output; returns the function that stops it. The Engine.IO connection can
   * outlive the Socket.IO socket (a client may join the namespace again on it), so the listeners are removed
   * when the socket goes.
   */
  watch(connection: OutboundConnection): () => void {
    const onPacket = (packet: { data?: unknown }) => this.add(packet.data);
    const onDrain = () => {
      this.pending = 0;
    };
    const transport = connection.transport;
    connection.on('packetCreate', onPacket);
    transport.on('drain', onDrain);
    return () => {
      connection.off('packetCreate', onPacket);
      transport.off('drain', onDrain);
    };
  }

  /** Bytes queued and not yet handed to the kernel, as counted. */
  get pendingBytes(): number {
    return this.pending;
  }

  private add(data: unknown): void {
    if (data === undefined) return;
    this.pending += typeof data === 'string' ? data.length : ((data as { byteLength?: number }).byteLength ?? 0);
    if (this.pending > this.maxBytes && !this.exceeded) {
      this.exceeded = true;
      this.onExceeded(this.pending);
    }
  }
}

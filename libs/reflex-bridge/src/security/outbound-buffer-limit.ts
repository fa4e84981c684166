/** The parts of an Engine.IO connection the limit listens to. */
export interface OutboundConnection {
  on(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): unknown;
  readonly transport: { on(event: 'drain', listener: () => void): unknown };
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

  /** Starts counting `connection`'s output. */
  watch(connection: OutboundConnection): void {
    connection.on('packetCreate', (packet) => this.add(packet.data));
    connection.transport.on('drain', () => {
      this.pending = 0;
    });
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

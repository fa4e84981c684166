import type { Socket } from 'node:net';

/** Bytes the lingering connections of a process may read and drop at once, before the rate below applies. */
export const LINGER_DRAIN_BURST_BYTES = 16 * 1024 * 1024;
/** Bytes per second the lingering connections of a process may read and drop together, past the burst. */
export const LINGER_DRAIN_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** How often the bytes read are looked at: what they may overshoot the allowance by is what is read in this long. */
const TICK_MS = 20;

/**
 * What the lingering closes of a process read and drop, together: the bodies of requests answered before they were
 * read (a refused upload's), which the peer may go on sending for `LINGER_MS`. Node reads such a body as fast as
 * it arrives, about 1 GB/s on loopback, and every read costs the thread that every client shares: refused uploads with
 * 32 MB bodies, 4 at a time from one address, held another client's events at a median of 57 ms. Past
 * {@link LINGER_DRAIN_BURST_BYTES}, the lingering connections may read {@link LINGER_DRAIN_BYTES_PER_SECOND} a second
 * together; while they have read more, each is paused (not read: the kernel's buffers fill and the peer waits), and
 * read again once the allowance is back. A browser whose refused upload is under about 100 MB still sends it whole
 * (and reads the answer) within the linger; an attacker gets the rate, however many connections it uses.
 *
 * Counted by each socket's `bytesRead`, every {@link TICK_MS} while any connection lingers (Node's HTTP parser reads
 * the socket natively: there is no event per chunk to count by). Shared by the apps of a process: it bounds the
 * process's thread, whoever's connections linger.
 */
export class LingeringDrain {
  /** The lingering sockets and their `bytesRead` when last looked at. */
  private readonly sockets = new Map<Socket, number>();
  private allowance: number;
  private lastTick: number;
  private paused = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly burstBytes = LINGER_DRAIN_BURST_BYTES,
    private readonly bytesPerSecond = LINGER_DRAIN_BYTES_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.allowance = burstBytes;
    this.lastTick = now();
  }

  /** Lingering connections being counted. */
  get size(): number {
    return this.sockets.size;
  }

  /** Counts what `socket` reads from now on, until it closes; paused at once while the allowance is spent. */
  add(socket: Socket): void {
    if (socket.destroyed || this.sockets.has(socket)) return;
    this.sockets.set(socket, socket.bytesRead);
    socket.once('close', () => this.sockets.delete(socket));
    // Later than the request's dump, which resumes the socket on the next tick after its answer finished.
    if (this.paused) setImmediate(() => this.paused && this.sockets.has(socket) && socket.pause());
    if (this.timer === undefined) {
      this.lastTick = this.now();
      this.timer = setInterval(this.tick, TICK_MS);
      this.timer.unref();
    }
  }

  /** Charges what each socket read since the last look; pauses them all while the allowance is spent, resumes after. */
  readonly tick = (): void => {
    const now = this.now();
    this.allowance = Math.min(this.burstBytes, this.allowance + ((now - this.lastTick) * this.bytesPerSecond) / 1000);
    this.lastTick = now;
    for (const [socket, before] of this.sockets) {
      const read = socket.bytesRead;
      this.allowance -= read - before;
      this.sockets.set(socket, read);
    }
    const spent = this.allowance <= 0;
    if (spent !== this.paused) {
      this.paused = spent;
      for (const socket of this.sockets.keys()) {
        if (spent) socket.pause();
        else socket.resume();
      }
    }
    if (this.sockets.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.paused = false;
    }
  };
}

/** The process's {@link LingeringDrain}: every lingering close counts against it. */
export const lingeringDrain = new LingeringDrain();

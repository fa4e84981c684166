import type { Socket } from 'node:net';

/** Bytes the lingering connections of a process may read and drop at once, before the rate below applies. */
export const LINGER_DRAIN_BURST_BYTES = 16 * 1024 * 1024;
/** Bytes per second the lingering connections of a process may read and drop together, past the burst. */
export const LINGER_DRAIN_BYTES_PER_SECOND = 32 * 1024 * 1024;
/**
 * Lingering connections one client address may have at once; past it the next is cut at once instead (see
 * {@link LingeringDrain.admits}). A browser opens at most six connections to a host, and a refused upload is rare.
 */
export const MAX_LINGERING_PER_ADDRESS = 64;
/** How often the bytes read are looked at: what they may overshoot the allowance by is what is read in this long. */
const TICK_MS = 20;

/** One client address's lingering connections, and what they may still read. */
interface AddressDrain {
  readonly key: string;
  /** Bytes its connections may still read; below zero, what they read past it, paid back from its share of the rate. */
  allowance: number;
  /** Its lingering connections; none once all closed, while it still owes (it stays until it paid back). */
  readonly sockets: Set<Socket>;
  /** Whether its connections are paused now. */
  paused: boolean;
  /** Whether its connections have been let read at all (see {@link LingeringDrain.mayRead}). */
  started: boolean;
}

/** A lingering socket: its address, and its `bytesRead` when last charged. */
interface LingeringSocket {
  readonly address: AddressDrain;
  counted: number;
}

/**
 * What the lingering closes of a process read and drop: the bodies of requests answered before they were read (a
 * refused upload's), which the peer may go on sending for `LINGER_MS`. Node reads such a body as fast as it arrives,
 * about 1 GB/s on loopback, and every read costs the thread that every client shares: refused uploads with 32 MB
 * bodies, 4 at a time from one address, held another client's events at a median of 57 ms.
 *
 * All lingering connections of the process together may read {@link LINGER_DRAIN_BURST_BYTES} at once, then
 * {@link LINGER_DRAIN_BYTES_PER_SECOND}, and that allowance is shared between the client addresses that have
 * connections lingering: each gets an equal part of the rate (a part one address does not need goes to the others),
 * and holds at most an equal part of the burst. An address's connections are paused (not read: the kernel's buffers
 * fill and the peer waits) while it has read more than it was given, and read again once its part paid that back;
 * the other addresses go on. With one allowance for all, one address keeping endless refused bodies lingering spent
 * it all, and a browser's refused 20 MB upload from another address, paused behind them, was not sent whole within
 * the linger and was cut (a reset instead of the answer). A browser whose refused upload is under about 100 MB (about
 * 90 MB beside one such address: half the burst and the rate) still sends it whole within the linger; an attacker
 * gets its address's part of the rate, however many connections it uses.
 *
 * Counted by each socket's `bytesRead`, every {@link TICK_MS} while any address lingers (Node's HTTP parser reads the
 * socket natively: there is no event per chunk to count by), so an address may read past its allowance by what its
 * connections read between two looks; it owes that, even once its connections closed, and an address that has not
 * read yet waits while addresses gone still owe: so addresses coming and going cannot each read that much in turn,
 * and the whole stays within the burst and the rate (and one look's reading). Shared by the apps of a process: it
 * bounds the process's thread, whoever's connections linger.
 */
export class LingeringDrain {
  private readonly sockets = new Map<Socket, LingeringSocket>();
  /** Every address with lingering connections, or owing (connections gone), by key. */
  private readonly addresses = new Map<string, AddressDrain>();
  /** Allowance no address holds: the burst at first, and what the rate gave back that every address had no room for. */
  private pool: number;
  /** What addresses whose connections all closed still owe, as of the last look. */
  private owedByGone = 0;
  private lastRefill: number;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly burstBytes = LINGER_DRAIN_BURST_BYTES,
    private readonly bytesPerSecond = LINGER_DRAIN_BYTES_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.pool = burstBytes;
    this.lastRefill = now();
  }

  /** Lingering connections being counted. */
  get size(): number {
    return this.sockets.size;
  }

  /** Client addresses being counted: with lingering connections, or still owing what they read past their allowance. */
  get addressCount(): number {
    return this.addresses.size;
  }

  /**
   * Whether `address` may have one more lingering connection: under {@link MAX_LINGERING_PER_ADDRESS}. Each one holds
   * a descriptor for up to the linger, and while its address has read its part of the rate it is not even read (its
   * end unseen): one address refused 800 uploads a second held 3,756 descriptors within 7 s.
   */
  admits(address: string): boolean {
    return (this.addresses.get(address)?.sockets.size ?? 0) < MAX_LINGERING_PER_ADDRESS;
  }

  /**
   * Counts what `socket` reads from now on, until it closes, against `address` (the client address's key, as the
   * per-address limits key it); paused at once while that address may not read.
   */
  add(socket: Socket, address: string): void {
    if (socket.destroyed || this.sockets.has(socket)) return;
    this.refill();
    let drain = this.addresses.get(address);
    if (drain === undefined) {
      drain = { key: address, allowance: 0, sockets: new Set(), paused: false, started: false };
      this.addresses.set(address, drain);
      // Its part of the burst at once, from what no address holds (or what others hold past their new part).
      this.shareOut();
    }
    drain.sockets.add(socket);
    this.sockets.set(socket, { address: drain, counted: socket.bytesRead });
    socket.once('close', () => this.forget(socket));
    if (!drain.paused && this.mayRead(drain)) {
      drain.started = true;
    } else {
      drain.paused = true;
      const paused = drain;
      // Later than the request's dump, which resumes the socket on the next tick after its answer finished.
      setImmediate(() => paused.paused && this.sockets.has(socket) && socket.pause());
    }
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, TICK_MS);
      this.timer.unref();
    }
  }

  /**
   * Charges what each socket read since the last look to its address, shares out what the rate gave back, and pauses
   * the connections of each address that may not read, resuming the others.
   */
  readonly tick = (): void => {
    this.refill();
    for (const [socket, lingering] of this.sockets) this.charge(socket, lingering);
    this.shareOut();
    let owedByGone = 0;
    for (const drain of this.addresses.values()) {
      if (drain.sockets.size > 0) continue;
      if (drain.allowance < 0) owedByGone -= drain.allowance;
      else this.leave(drain);
    }
    this.owedByGone = owedByGone;
    for (const drain of this.addresses.values()) {
      if (drain.sockets.size === 0) continue;
      const paused = !this.mayRead(drain);
      if (paused === drain.paused) continue;
      drain.paused = paused;
      drain.started ||= !paused;
      for (const socket of drain.sockets) {
        if (paused) socket.pause();
        else socket.resume();
      }
    }
    if (this.addresses.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };

  /**
   * Whether `drain`'s connections may read: while it has allowance left. An address that has not read yet starts once
   * addresses gone owe nothing (else addresses opening a connection each in turn would each read what one reads
   * between two looks, and leave owing it: the process would read past the rate), and once it holds a look's equal
   * part of the rate: joining between two looks, it may get only a scrap of what the others gave back, and an address
   * reading less than its part would read past that scrap and be paused a look after it started.
   */
  private mayRead(drain: AddressDrain): boolean {
    if (drain.started) return drain.allowance > 0;
    const lookPart = Math.min((this.bytesPerSecond * TICK_MS) / 1000, this.burstBytes) / this.addresses.size;
    return this.owedByGone === 0 && drain.allowance > 0 && drain.allowance >= lookPart;
  }

  /** What the rate gave since the last refill, into the pool; the whole never above the burst. */
  private refill(): void {
    const now = this.now();
    this.pool += (Math.max(0, now - this.lastRefill) * this.bytesPerSecond) / 1000;
    this.lastRefill = now;
    let held = 0;
    for (const drain of this.addresses.values()) held += drain.allowance;
    // Allowance not read is not kept past the burst: the burst bounds what may be read at once. What addresses owe
    // counts: their debt is paid first (see shareOut), so the pool may hold more than the burst meanwhile.
    this.pool = Math.max(0, Math.min(this.pool, this.burstBytes - held));
  }

  /**
   * Shares the pool out between the addresses, in equal parts up to an equal part of the burst each (an address with
   * less room takes what fits, the rest going to the others); an address holding more than that part (there were
   * fewer addresses when it got it) gives the rest back first.
   */
  private shareOut(): void {
    const count = this.addresses.size;
    if (count === 0) return;
    const most = this.burstBytes / count;
    const wanting: AddressDrain[] = [];
    for (const drain of this.addresses.values()) {
      if (drain.allowance > most) {
        this.pool += drain.allowance - most;
        drain.allowance = most;
      }
      if (drain.allowance < most) wanting.push(drain);
    }
    if (this.pool <= 0 || wanting.length === 0) return;
    // Least room first: what one has no room for is shared by those after it.
    if (wanting.length > 1) wanting.sort((a, b) => b.allowance - a.allowance);
    let left = wanting.length;
    for (const drain of wanting) {
      const part = Math.min(this.pool / left, most - drain.allowance);
      drain.allowance += part;
      this.pool -= part;
      left -= 1;
    }
  }

  /** Charges `socket`'s reads since it was last charged to its address. */
  private charge(socket: Socket, lingering: LingeringSocket): void {
    const read = socket.bytesRead;
    lingering.address.allowance -= read - lingering.counted;
    lingering.counted = read;
  }

  /** A closed socket: what it read last is charged; its address stays until the next look. */
  private forget(socket: Socket): void {
    const lingering = this.sockets.get(socket);
    if (lingering === undefined) return;
    this.charge(socket, lingering);
    this.sockets.delete(socket);
    lingering.address.sockets.delete(socket);
  }

  /** An address without connections that owes nothing: what it held goes back to the pool. */
  private leave(drain: AddressDrain): void {
    this.pool += drain.allowance;
    this.addresses.delete(drain.key);
  }
}

/** The process's {@link LingeringDrain}: every lingering close counts against it. */
export const lingeringDrain = new LingeringDrain();

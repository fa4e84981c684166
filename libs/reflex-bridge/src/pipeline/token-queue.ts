import { isPromise, type MaybePromise } from '../common/maybe-promise.js';

/** How much client work one token may have waiting (see `maxQueuedEvents` / `maxQueuedBytes`). */
export interface TokenQueueLimits {
  /** Client events that may wait behind the running one. */
  maxQueuedEvents: number;
  /** Their total size as received (characters of the frames), once the queue holds at least one. */
  maxQueuedBytes: number;
  /**
   * The size of the client events waiting in every token's queue of the worker together, plus what
   * {@link TokenQueue.reserve} holds elsewhere (`maxTotalQueuedBytes`): the per-token limits bound one token, not a
   * client holding many.
   */
  maxTotalQueuedBytes?: number;
}

/**
 * Events of one idle token that run synchronously, back to back, in one turn of the event loop before the
 * rest wait in its queue. Socket.IO delivers every frame of a socket read in one go (a flood brings
 * thousands per read); without this bound a client sending `none`-tier events (synchronous end to end)
 * would hold the process for as long as its whole read takes.
 */
export const SYNC_BURST = 32;

/** Tasks a token with a backlog runs back to back before it lets the event loop turn (other sockets' I/O). */
export const YIELD_EVERY = 4;

/** A task waiting in a token's line. */
interface Waiting {
  task: () => MaybePromise<void>;
  /** Size charged against the byte limit. */
  bytes: number;
  /** A client event, counted against the limits (server follow-ups and `modify` are not). */
  counted: boolean;
  done: () => void;
}

/**
 * One token's queued work. It exists exactly while something drives it: a task running asynchronously, or
 * the next task scheduled (a microtask or a turn of the event loop away). One driver at a time keeps order.
 */
class Line {
  readonly waiting: Waiting[] = [];
  events = 0;
  bytes = 0;
  /** Tasks run back to back since this line last let the event loop turn. */
  ranSinceYield = 0;
  /** Called once the line has drained to half its limits (or emptied). */
  drained?: Array<() => void>;
  /** Called once the line has emptied and closed (see {@link TokenQueue.whenIdle}). */
  idle?: Array<() => void>;
  /** A client event was refused since the line was last below half its limits (see {@link TokenQueue.refused}). */
  refusing = false;
  /** A client event was refused for the worker's total since this line last moved on (see {@link TokenQueue.refusedForTotal}). */
  refusedForTotal = false;

  constructor(readonly token: string) {}
}

const NO_LIMITS: TokenQueueLimits = { maxQueuedEvents: Number.POSITIVE_INFINITY, maxQueuedBytes: Number.POSITIVE_INFINITY, maxTotalQueuedBytes: Number.POSITIVE_INFINITY };

/**
 * Runs tasks one at a time per client token, in arrival order, while different tokens run concurrently
 * (Reflex's per-token event queue). A failing task never blocks the ones behind it.
 *
 * A task for a token with nothing queued starts at once and may finish synchronously: then the queue never
 * holds it (no promise at all, the common case of an event handled without I/O). A task that goes async
 * becomes the token's line before anything else can arrive, so later tasks wait for it.
 *
 * Fairness: a token with a backlog never runs its whole queue in one go. Every {@link YIELD_EVERY} tasks
 * it waits for a turn of the event loop (`setImmediate`), so other sockets' frames and I/O are served
 * between a flooding client's events; otherwise a chain of promise tasks would run entirely in microtasks
 * and hold every other client until it ended. Likewise an idle token runs at most {@link SYNC_BURST}
 * events synchronously in one turn; the rest of a large read waits in its queue.
 *
 * Limits: client events waiting in one token's queue are capped in number and size ({@link accepts});
 * the caller refuses an event over the cap instead of queueing it. Internal work is never refused.
 */
export class TokenQueue {
  private readonly lines = new Map<string, Line>();
  /** The size of the client events waiting in every line, plus what {@link reserve} holds. */
  private totalBytes = 0;
  private readonly maxTotalBytes: number;
  /** The idle token whose events ran synchronously back to back most recently, and how many did. */
  private burstToken: string | undefined;
  private burstLength = 0;
  private burstResetScheduled = false;
  private readonly resetBurst = (): void => {
    this.burstToken = undefined;
    this.burstLength = 0;
    this.burstResetScheduled = false;
  };
  private readonly resume = (line: Line): void => {
    line.ranSinceYield = 0;
    this.next(line);
  };

  constructor(private readonly limits: TokenQueueLimits = NO_LIMITS) {
    this.maxTotalBytes = limits.maxTotalQueuedBytes ?? Number.POSITIVE_INFINITY;
  }

  /** The size of the client events waiting in the worker's queues, plus what {@link reserve} holds (for tests). */
  get queuedBytes(): number {
    return this.totalBytes;
  }

  /**
   * Takes `bytes` of the worker's total for client events held outside the queues (the gateway's, while a client's
   * output drains): false, taking nothing, when that would pass `maxTotalQueuedBytes`. Give them back with
   * {@link release}.
   */
  reserve(bytes: number): boolean {
    if (this.totalBytes + bytes > this.maxTotalBytes) return false;
    this.totalBytes += bytes;
    return true;
  }

  /** Whether `bytes` more would take the worker's queues together over `maxTotalQueuedBytes`. */
  passesTotal(bytes: number): boolean {
    return this.totalBytes + bytes > this.maxTotalBytes;
  }

  /** Gives back `bytes` taken with {@link reserve}. */
  release(bytes: number): void {
    this.totalBytes -= bytes;
  }

  /**
   * Runs `task` now when nothing is queued for `token`, else behind everything already queued. Returns
   * nothing when the task finished synchronously, else a promise that resolves when it has run.
   *
   * `bytes` marks a client event: it counts against the limits with that size. Check {@link accepts}
   * first; `run` itself never refuses. Without `bytes` the task is internal work and not counted.
   */
  run(token: string, task: () => MaybePromise<void>, bytes?: number): MaybePromise<void> {
    if (!this.startsNow(token)) return this.runLater(token, task, bytes);
    let pending: MaybePromise<void>;
    try {
      pending = task();
    } catch {
      return;
    }
    return isPromise(pending) ? this.track(token, pending) : undefined;
  }

  /**
   * {@link run} in two halves, for a caller that runs the task itself (the event pipeline: no closure per event).
   * True when a task for `token` may run now, in the caller: nothing is queued for the token and its synchronous
   * burst is not used up. Counts the task against that burst: call it once per task, then either run the task
   * (handing a promise it returns to {@link track}) or, on false, give it to {@link runLater}.
   */
  startsNow(token: string): boolean {
    return !this.lines.has(token) && !this.inBurst(token);
  }

  /** A task that {@link startsNow} let run went asynchronous: it becomes the token's line, so later tasks wait for it. */
  track(token: string, pending: Promise<void>): Promise<void> {
    const queued = this.lines.get(token);
    if (queued) {
      // The task queued work of its own before it went asynchronous (a follow-up event, a page's on-load handlers):
      // that line's first turn is already scheduled, and must wait for this task. A new line in its place split the
      // token's queue in two: both ran at once, and events that came later overtook the second.
      return new Promise<void>((done) => queued.waiting.unshift({ task: () => pending, bytes: 0, counted: false, done }));
    }
    const line = this.open(token);
    line.ranSinceYield = 1;
    const settled = () => this.finished(line);
    return pending.then(settled, settled);
  }

  /** Queues `task` after {@link startsNow} said no: behind `token`'s queue, or, past its burst, after a turn of the event loop. */
  runLater(token: string, task: () => MaybePromise<void>, bytes?: number): Promise<void> {
    const queued = this.lines.get(token);
    if (queued) return this.wait(queued, task, bytes);
    const line = this.open(token);
    const ran = this.wait(line, task, bytes);
    setImmediate(this.resume, line);
    return ran;
  }

  /** Queues `task` behind everything queued for `token`, starting it no sooner than the next microtask. */
  enqueue(token: string, task: () => MaybePromise<void>): Promise<void> {
    const queued = this.lines.get(token);
    if (queued) return this.wait(queued, task, undefined);
    const line = this.open(token);
    const ran = this.wait(line, task, undefined);
    queueMicrotask(() => this.next(line));
    return ran;
  }

  /**
   * Whether a client event of `bytes` may join `token`'s queue: no when the queue already holds
   * `maxQueuedEvents` client events, or when it holds some and this one would take their size over
   * `maxQueuedBytes` (an empty queue takes any one event, whatever its size); and no, whatever the token's queue
   * holds, when it would take the worker's queues together over `maxTotalQueuedBytes`: one client holding many
   * tokens (a connection each, from several addresses) queued an event of up to ~21 MB parsed behind each.
   */
  accepts(token: string, bytes: number): boolean {
    if (this.totalBytes + bytes > this.maxTotalBytes) return false;
    const line = this.lines.get(token);
    if (!line || line.events === 0) return true;
    return line.events < this.limits.maxQueuedEvents && line.bytes + bytes <= this.limits.maxQueuedBytes;
  }

  /** True while `token`'s queue is at one of its limits: its next client event would be refused. */
  isFull(token: string): boolean {
    const line = this.lines.get(token);
    return line !== undefined && line.events > 0 && (line.events >= this.limits.maxQueuedEvents || line.bytes >= this.limits.maxQueuedBytes);
  }

  /**
   * Records that a client event of `token` was refused because the worker's queues together were at
   * `maxTotalQueuedBytes`, until its next event starts or its queue empties ({@link onDrained} waits for that).
   * Why: its own limits far off, its socket went on being read, and every frame of a flood was decoded and answered
   * `busy` while the worker stayed full. Its own events moving on is what it can wait for.
   */
  refusedForTotal(token: string): void {
    const line = this.lines.get(token);
    if (line !== undefined) line.refusedForTotal = true;
  }

  /**
   * True while the gateway should not read `token`'s socket: its queue is at a limit ({@link isFull}), or one of its
   * events was refused for the worker's total since it last moved on ({@link refusedForTotal}). One lookup: the
   * gateway asks after every event read.
   */
  stopsReading(token: string): boolean {
    const line = this.lines.get(token);
    return line !== undefined && (line.refusedForTotal || (line.events > 0 && (line.events >= this.limits.maxQueuedEvents || line.bytes >= this.limits.maxQueuedBytes)));
  }

  /**
   * Records that a client event of `token` was refused over the limits (its queue is not below half of them).
   * True for the first refusal since the queue was last below half its limits, false for the ones after it: a
   * client told once that its queue is full need not be shown it again for every frame of the same read.
   */
  refused(token: string): boolean {
    const line = this.lines.get(token);
    if (line === undefined) return true;
    if (line.refusing) return false;
    line.refusing = true;
    return true;
  }

  /**
   * Calls `callback` once `token`'s queue has drained to half its limits (at once when it already has),
   * so that whoever stopped feeding it can start again with room to spare.
   */
  onDrained(token: string, callback: () => void): void {
    const line = this.lines.get(token);
    if (!line || (this.isBelowHalf(line) && !line.refusedForTotal)) {
      callback();
      return;
    }
    (line.drained ??= []).push(callback);
  }

  /** True while `token` has queued or running asynchronous work. */
  has(token: string): boolean {
    return this.lines.has(token);
  }

  /** Resolves once `token` has no queued or running asynchronous work (at once when it has none). */
  whenIdle(token: string): Promise<void> {
    const line = this.lines.get(token);
    if (!line) return Promise.resolve();
    return new Promise<void>((resolve) => (line.idle ??= []).push(resolve));
  }

  /**
   * Resolves once no token has queued or running asynchronous work (at once when none has): for shutdown. Work that
   * starts meanwhile (a follow-up event, a `modify`) is waited for too.
   */
  async whenAllIdle(): Promise<void> {
    while (this.lines.size > 0) await Promise.all([...this.lines.keys()].map((token) => this.whenIdle(token)));
  }

  /** Client events waiting in `token`'s queue (not counting the one running). */
  queuedEvents(token: string): number {
    return this.lines.get(token)?.events ?? 0;
  }

  /** Tokens with queued or running work (for shutdown and tests). */
  get size(): number {
    return this.lines.size;
  }

  /**
   * Counts the synchronous run of one idle token's events; true once it exceeds {@link SYNC_BURST} in this
   * turn. A reset is scheduled only once a run reaches half the burst, so an ordinary client (one event per
   * turn, other tokens in between) never schedules anything.
   */
  private inBurst(token: string): boolean {
    if (token !== this.burstToken) {
      this.burstToken = token;
      this.burstLength = 1;
      return false;
    }
    const length = ++this.burstLength;
    if (length >= SYNC_BURST / 2 && !this.burstResetScheduled) {
      this.burstResetScheduled = true;
      setImmediate(this.resetBurst);
    }
    return length > SYNC_BURST;
  }

  private open(token: string): Line {
    const line = new Line(token);
    this.lines.set(token, line);
    return line;
  }

  private wait(line: Line, task: () => MaybePromise<void>, bytes: number | undefined): Promise<void> {
    const counted = bytes !== undefined;
    if (counted) {
      line.events++;
      line.bytes += bytes;
      this.totalBytes += bytes;
    }
    return new Promise<void>((done) => {
      line.waiting.push({ task, bytes: bytes ?? 0, counted, done });
    });
  }

  /** The running task has settled: close the line, or start the next task now or after a turn. */
  private finished(line: Line): void {
    if (line.waiting.length === 0) {
      if (this.lines.get(line.token) === line) this.lines.delete(line.token);
      this.notifyDrained(line);
      const idle = line.idle;
      line.idle = undefined;
      if (idle) for (const resolve of idle) resolve();
      return;
    }
    if (line.ranSinceYield >= YIELD_EVERY) setImmediate(this.resume, line);
    else this.next(line);
  }

  private next(line: Line): void {
    const item = line.waiting.shift()!;
    if (item.counted) {
      line.events--;
      line.bytes -= item.bytes;
      this.totalBytes -= item.bytes;
      if ((line.drained !== undefined || line.refusing || line.refusedForTotal) && this.isBelowHalf(line)) {
        line.refusing = false;
        line.refusedForTotal = false;
        this.notifyDrained(line);
      }
    }
    line.ranSinceYield++;
    let pending: MaybePromise<void>;
    try {
      pending = item.task();
    } catch {
      pending = undefined;
    }
    if (isPromise(pending)) {
      const settled = () => {
        item.done();
        this.finished(line);
      };
      pending.then(settled, settled);
      return;
    }
    item.done();
    this.finished(line);
  }

  private isBelowHalf(line: Line): boolean {
    return line.events <= this.limits.maxQueuedEvents / 2 && line.bytes <= this.limits.maxQueuedBytes / 2;
  }

  private notifyDrained(line: Line): void {
    const callbacks = line.drained;
    if (!callbacks) return;
    line.drained = undefined;
    for (const callback of callbacks) callback();
  }
}

/** One subscriber's next piece of fan-out work, run by {@link LiveFanoutScheduler}. */
export interface LiveFanoutTask {
  /** Applies the subscriber's oldest waiting change (synchronously when it can). Never throws. */
  runNext(): void;
}

/**
 * How long one turn of the event loop may spend fanning changes out before other clients' frames and timers get
 * a turn: a change to 10,000 subscribers is applied in slices of about this many milliseconds, not in one block.
 */
export const FANOUT_SLICE_MS = 10;

/** Subscribers run between two looks at the clock. */
const CLOCK_EVERY = 32;

/**
 * Runs the live-list subscribers that have a change waiting, one change at a time each, in the order they got
 * one. The first slice starts in a microtask after the change was delivered (so the broadcaster's delivery loop
 * only queues); a change to many subscribers continues in slices of {@link FANOUT_SLICE_MS}, one per turn of
 * the event loop, so that a broadcast to 10,000 sockets never holds other clients' events for its whole length.
 * Each subscriber's changes still apply in order: a subscriber is queued here at most once at a time.
 */
export class LiveFanoutScheduler {
  private ready: Array<LiveFanoutTask | undefined> = [];
  private head = 0;
  private draining = false;

  constructor(private readonly sliceMs = FANOUT_SLICE_MS) {}

  /** Queues `task` to run once (its owner queues it again for its next change). */
  schedule(task: LiveFanoutTask): void {
    this.ready.push(task);
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(this.drain);
  }

  /** Tasks waiting (for tests and metrics). */
  get waiting(): number {
    return this.ready.length - this.head;
  }

  private readonly drain = (): void => {
    const started = performance.now();
    let ran = 0;
    while (this.head < this.ready.length) {
      const task = this.ready[this.head]!;
      this.ready[this.head++] = undefined;
      task.runNext();
      if (++ran % CLOCK_EVERY === 0 && performance.now() - started >= this.sliceMs && this.head < this.ready.length) {
        // Drop what ran, so the queue does not grow by every change's subscribers while it keeps draining.
        this.ready = this.ready.slice(this.head);
        this.head = 0;
        setImmediate(this.drain);
        return;
      }
    }
    this.ready.length = 0;
    this.head = 0;
    this.draining = false;
  };
}

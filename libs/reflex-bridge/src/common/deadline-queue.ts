/** The longest delay `setTimeout` takes. */
const MAX_TIMER_MS = 2_147_483_647;

/** One operation watched by a {@link DeadlineQueue}. */
export interface DeadlineEntry {
  /** Set by {@link DeadlineQueue.track}: when the entry expires (local clock, ms). */
  deadline: number;
  /** Set by the operation's owner once it completed: a settled entry is dropped without being expired. */
  settled: boolean;
  /** Called once when the deadline passed before the entry settled. */
  expire(): void;
}

/**
 * Deadlines of many short operations that all get the same time limit (the commands a store sends on every event),
 * watched by one timer instead of one each. Entries are checked in the order they were tracked; with one time limit
 * that is also their deadline order, so the timer only ever looks at the oldest unsettled entry. The timer is armed
 * when the first entry arrives and re-armed from its own callback while entries remain, so a steady stream of
 * operations costs one timer per time limit, not one per operation. An entry expires at most a few milliseconds
 * after its deadline, never before it.
 */
export class DeadlineQueue {
  /**
   * The entries from `head` to `tail`, oldest first; the slots around them are empty. The array is reused in place
   * (an emptied queue starts again at slot 0, and only compacted now and then): setting an array's `length` or
   * growing a new one on every operation cost about 900 instructions per `full` event.
   */
  private entries: (DeadlineEntry | undefined)[] = [];
  /** Index of the oldest entry still in `entries`. */
  private head = 0;
  /** Index after the newest entry. */
  private tail = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  /** @param timeoutMs how long each tracked entry may take. */
  constructor(readonly timeoutMs: number) {}

  /** Watches `entry`: its `expire()` runs once `timeoutMs` from now has passed, unless it settled by then. */
  track(entry: DeadlineEntry): void {
    if (this.closed) return;
    entry.deadline = Date.now() + this.timeoutMs;
    this.dropSettled();
    if (this.tail < this.entries.length) this.entries[this.tail] = entry;
    else this.entries.push(entry);
    this.tail += 1;
    if (this.timer === undefined) this.arm(this.timeoutMs);
  }

  /** Entries tracked and neither settled nor expired yet (settled ones may be counted until the next check). */
  get size(): number {
    return this.tail - this.head;
  }

  /** Stops the timer and forgets every entry without expiring it. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.entries = [];
    this.head = 0;
    this.tail = 0;
  }

  private arm(ms: number): void {
    // Unref: an operation in flight keeps the process alive through its own socket, not through this timer.
    // A longer delay than setTimeout takes would fire at once (and be re-armed at once, again and again).
    this.timer = setTimeout(this.check, Math.min(Math.max(1, ms), MAX_TIMER_MS));
    this.timer.unref();
  }

  private readonly check = (): void => {
    this.timer = undefined;
    const now = Date.now();
    const entries = this.entries;
    while (this.head < this.tail) {
      const entry = entries[this.head]!;
      if (!entry.settled && entry.deadline > now) break;
      entries[this.head++] = undefined;
      if (!entry.settled) {
        entry.settled = true;
        entry.expire();
      }
    }
    this.compact();
    if (this.head < this.tail) this.arm(this.entries[this.head]!.deadline - now);
  };

  /** Drops the settled entries at the front (operations mostly complete in order), so the array stays short. */
  private dropSettled(): void {
    const entries = this.entries;
    while (this.head < this.tail && entries[this.head]!.settled) entries[this.head++] = undefined;
    if (this.head === this.tail) this.reset();
    else if (this.head > 1024 && this.head * 2 > this.tail) this.compact();
  }

  /** Empties the queue, keeping its array for the next entries unless a burst made it large. */
  private reset(): void {
    this.head = this.tail = 0;
    if (this.entries.length > 1024) this.entries = [];
  }

  /** Moves the entries to the front of the array; an emptied array that grew large (a burst) is let go. */
  private compact(): void {
    if (this.head === 0) return;
    if (this.head === this.tail) return this.reset();
    const entries = this.entries;
    entries.copyWithin(0, this.head, this.tail);
    entries.fill(undefined, this.tail - this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }
}

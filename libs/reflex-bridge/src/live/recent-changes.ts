import { ModelChange } from './model-change.js';

function copyOf(change: ModelChange): ModelChange {
  return new ModelChange(change.modelLabel, change.action, change.pk, change.data, change.origin);
}

/** One change as this worker received it. */
interface Received {
  readonly at: number;
  readonly change: ModelChange;
}

/**
 * The changes this worker received in the last `windowMs`, at most `perLabel` per label, oldest first: what a
 * live list that subscribes late replays (see `LiveListSubscriptions.start`). A page loads its list, then
 * subscribes; a change committed between the two would otherwise never reach it.
 *
 * Changes are kept as copies: what live lists compute for a change (its rows, lists and frames) is cached for as
 * long as the change object lives, so keeping the one the fan-out used would keep all of that for the whole window.
 * {@link since} hands out the kept changes themselves, for a replay to key what it shares across replays (the rows
 * of `ReplayRowCache`, nothing else) and to copy before it hands them to subscribers: handing one kept change to
 * every late subscriber would keep their lists and frames for the window.
 *
 * Each label's changes sit in an array read from `head` (dropping the oldest is a counter, not a shift), compacted
 * when half of it is dropped. Labels whose changes all expired are forgotten on the next sweep, at most once a
 * window, so a label that went quiet keeps nothing for long.
 */
export class RecentChanges {
  private readonly labels = new Map<string, { entries: Received[]; head: number }>();
  private nextSweep = 0;

  constructor(
    private readonly windowMs: number,
    private readonly perLabel: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps `change`, received now. */
  record(change: ModelChange): void {
    const at = this.now();
    let kept = this.labels.get(change.modelLabel);
    if (!kept) this.labels.set(change.modelLabel, (kept = { entries: [], head: 0 }));
    kept.entries.push({ at, change: copyOf(change) });
    if (kept.entries.length - kept.head > this.perLabel) kept.head += 1;
    this.expire(kept, at);
    if (at >= this.nextSweep) this.sweep(at);
  }

  /**
   * The changes of `label` received at or after `since` (and within the window), oldest first: the kept objects,
   * the same for every call (copy them before a subscriber applies them, see above).
   */
  since(label: string, since: number): ModelChange[] {
    const kept = this.labels.get(label);
    if (!kept) return [];
    const from = Math.max(since, this.now() - this.windowMs);
    const found: ModelChange[] = [];
    for (let index = kept.head; index < kept.entries.length; index += 1) {
      const entry = kept.entries[index]!;
      if (entry.at >= from) found.push(entry.change);
    }
    return found;
  }

  /** Changes kept, over every label (for tests). */
  get size(): number {
    let size = 0;
    for (const kept of this.labels.values()) size += kept.entries.length - kept.head;
    return size;
  }

  /** Drops the label's changes older than the window, and compacts its array once half of it is dropped. */
  private expire(kept: { entries: Received[]; head: number }, now: number): void {
    const oldest = now - this.windowMs;
    while (kept.head < kept.entries.length && kept.entries[kept.head]!.at < oldest) kept.head += 1;
    if (kept.head > 0 && kept.head * 2 >= kept.entries.length) {
      kept.entries.splice(0, kept.head);
      kept.head = 0;
    }
  }

  private sweep(now: number): void {
    this.nextSweep = now + this.windowMs;
    for (const [label, kept] of this.labels) {
      this.expire(kept, now);
      if (kept.entries.length === 0) this.labels.delete(label);
    }
  }
}

import { ModelChange } from './model-change.js';

function copyOf(change: ModelChange): ModelChange {
  return new ModelChange(change.modelLabel, change.action, change.pk, change.data, change.origin);
}

/** One change as this worker received it; `id` is its place in the order of arrival over all labels. */
interface Received {
  readonly at: number;
  readonly change: ModelChange;
  readonly id: number;
  /** The size of its JSON text in UTF-8: what it weighed on the wire, counted against `maxBytes`. */
  readonly bytes: number;
}

/** One label's changes, read from `head`. */
interface Kept {
  readonly label: string;
  entries: Received[];
  head: number;
}

/** One arrival, in {@link RecentChanges}' order over all labels: which label it went to, and its id. */
interface Arrival {
  readonly kept: Kept;
  readonly id: number;
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
 *
 * Over all labels at most `maxTotal` changes are kept, the oldest dropped first: labels are whatever arrives on the
 * transport's channel, and anyone who can write to it (any Postgres role can NOTIFY) could otherwise make every
 * worker keep a window's worth of changes for as many labels as they care to invent. The order of arrival is a
 * queue of (label, id) whose entries go stale when their change leaves its label first; it is compacted once
 * mostly stale.
 *
 * The changes kept also weigh at most `maxBytes` in all (each counted as its JSON text in UTF-8, what it weighed
 * on the wire), the oldest dropped first: a count alone still lets that writer fill it with changes as large as the
 * transport carries (10,000 NOTIFYs of 8 KB: 80 MB in every worker for the window). A change larger than
 * `maxBytes` by itself is not kept.
 */
export class RecentChanges {
  private readonly labels = new Map<string, Kept>();
  private arrivals: Arrival[] = [];
  private arrivalsHead = 0;
  private nextId = 0;
  private total = 0;
  private totalBytes = 0;
  private nextSweep = 0;

  /**
   * @param windowMs how long a change is kept.
   * @param perLabel how many changes of one label are kept at most.
   * @param now the clock (tests pass their own).
   * @param maxTotal how many changes are kept at most over all labels.
   * @param maxBytes how many bytes of changes (their JSON in UTF-8) are kept at most over all labels.
   */
  constructor(
    private readonly windowMs: number,
    private readonly perLabel: number,
    private readonly now: () => number = Date.now,
    private readonly maxTotal = Number.MAX_SAFE_INTEGER,
    private readonly maxBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  /** Keeps `change`, received now. */
  record(change: ModelChange): void {
    const at = this.now();
    let kept = this.labels.get(change.modelLabel);
    if (!kept) this.labels.set(change.modelLabel, (kept = { label: change.modelLabel, entries: [], head: 0 }));
    const id = this.nextId++;
    const copy = copyOf(change);
    const bytes = Buffer.byteLength(JSON.stringify(copy), 'utf8');
    kept.entries.push({ at, change: copy, id, bytes });
    this.arrivals.push({ kept, id });
    this.total += 1;
    this.totalBytes += bytes;
    if (kept.entries.length - kept.head > this.perLabel) this.drop(kept, 1);
    this.expire(kept, at);
    if (at >= this.nextSweep) this.sweep(at);
    while (this.total > this.maxTotal || this.totalBytes > this.maxBytes) this.dropOldest();
    this.compactArrivals();
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
    return this.total;
  }

  /** Bytes of the changes kept (their JSON in UTF-8), over every label (for tests). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Labels with changes kept or not yet swept (for tests). */
  get labelCount(): number {
    return this.labels.size;
  }

  /** Drops the label's changes older than the window, and compacts its array once half of it is dropped. */
  private expire(kept: Kept, now: number): void {
    const oldest = now - this.windowMs;
    let expired = 0;
    while (kept.head + expired < kept.entries.length && kept.entries[kept.head + expired]!.at < oldest) expired += 1;
    this.drop(kept, expired);
    if (kept.head > 0 && kept.head * 2 >= kept.entries.length) {
      kept.entries.splice(0, kept.head);
      kept.head = 0;
    }
  }

  /** Drops the label's `count` oldest changes. */
  private drop(kept: Kept, count: number): void {
    for (let index = kept.head; index < kept.head + count; index += 1) this.totalBytes -= kept.entries[index]!.bytes;
    kept.head += count;
    this.total -= count;
  }

  /** Whether `arrival` is still kept: its label's current entries still hold it. */
  private isKept(arrival: Arrival): boolean {
    const { kept, id } = arrival;
    const first = kept.entries[kept.head];
    return first !== undefined && id >= first.id && this.labels.get(kept.label) === kept;
  }

  /** Drops the oldest change kept over all labels: the head of the label of the oldest arrival still kept. */
  private dropOldest(): void {
    while (this.arrivalsHead < this.arrivals.length) {
      const arrival = this.arrivals[this.arrivalsHead++]!;
      if (!this.isKept(arrival)) continue;
      const { kept } = arrival;
      this.drop(kept, 1);
      // Let go of the dropped change now, and of a label left empty, rather than at the next sweep.
      if (kept.head === kept.entries.length) this.labels.delete(kept.label);
      else if (kept.head * 2 >= kept.entries.length) {
        kept.entries.splice(0, kept.head);
        kept.head = 0;
      }
      return;
    }
  }

  /** Forgets stale arrivals: those at the front at once, all of them once they are most of the queue. */
  private compactArrivals(): void {
    while (this.arrivalsHead < this.arrivals.length && !this.isKept(this.arrivals[this.arrivalsHead]!)) this.arrivalsHead += 1;
    if (this.arrivals.length - this.arrivalsHead > 2 * this.total + 1024) {
      this.arrivals = this.arrivals.slice(this.arrivalsHead).filter((arrival) => this.isKept(arrival));
      this.arrivalsHead = 0;
    } else if (this.arrivalsHead > 1024 && this.arrivalsHead * 2 >= this.arrivals.length) {
      this.arrivals.splice(0, this.arrivalsHead);
      this.arrivalsHead = 0;
    }
  }

  private sweep(now: number): void {
    this.nextSweep = now + this.windowMs;
    for (const [label, kept] of this.labels) {
      this.expire(kept, now);
      if (kept.entries.length === kept.head) this.labels.delete(label);
    }
  }
}

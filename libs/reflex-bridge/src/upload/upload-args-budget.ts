import { sinceStartMs } from '../common/since-start-clock.js';
import { CHARS_PER_BUDGET_UNIT } from '../security/connection-limits.js';
import type { RateLimitWindow } from '../security/rate-limit.options.js';

/** One address's window: the units charged in it, when it (or its block) ends, and whether its block began. */
interface AddressWindow {
  units: number;
  endsAt: number;
  blocked: boolean;
}

/** Windows held before the first sweep of ended ones; after a sweep, twice what is left (amortised O(1) per charge). */
const MIN_SWEEP_SIZE = 1024;

/**
 * The units of the budget a text field of `characters` characters costs: one per {@link CHARS_PER_BUDGET_UNIT}
 * (8,192) or part of them, as a connection's large frames cost theirs; 0 for an empty field.
 */
export function uploadFieldUnits(characters: number): number {
  return Math.ceil(characters / CHARS_PER_BUDGET_UNIT);
}

/**
 * The form text each client address's uploads may send one worker (`uploads.eventArgsPerAddress`): a fixed window per
 * address, in units of {@link CHARS_PER_BUDGET_UNIT} characters, as `rateLimit.perConnection` counts a connection's
 * messages. The `__reflex_event_args` field is scanned and parsed on the thread every client shares (several ms per
 * megabyte, far more for some shapes), and an upload is an HTTP request, counted against no connection's budget.
 *
 * Two calls, at the two moments the route can act: {@link refusedForMs} when an upload arrives, before its body is
 * read (reads only, so refused uploads cost a map lookup), and {@link charge} when busboy has read a text field, before
 * it is scanned. A charge is taken whole while the window has room, even past the limit, so at most one field's worth
 * goes beyond it; once the limit is reached, further charges are refused (and not counted: they were not scanned).
 *
 * Its own window rather than a `ThrottlerStorage`: `increment` adds one hit per call, so a 1 MB field would be 128
 * calls, and what it protects is this worker's thread, so it is counted here, as the connection budget is, with no
 * round trip to Redis on the upload's path. Memory: one small entry per address charged within its window; ended
 * ones are swept as the map grows.
 */
export class UploadArgsBudget {
  private readonly windows = new Map<string, AddressWindow>();
  private sweepAt = MIN_SWEEP_SIZE;

  constructor(
    /** At most `limit` units per window of `ttlMs` ms; refused for `blockDurationMs` after the first refusal when above 0. */
    readonly window: Required<RateLimitWindow>,
    /** The clock, in milliseconds (tests pass a fake one). */
    private readonly now: () => number = sinceStartMs,
  ) {}

  /** Addresses with a window (ended ones not yet swept included). */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Milliseconds until uploads from `address` (a key of `addressKey`) may send text fields again, 0 when its budget
   * has room. Called when an upload arrives: a positive answer refuses it before its body is read. Charges nothing.
   */
  refusedForMs(address: string): number {
    const entry = this.windows.get(address);
    if (entry === undefined) return 0;
    const now = this.now();
    if (entry.endsAt <= now || entry.units < this.window.limit) return 0;
    return this.refuse(entry, now);
  }

  /**
   * Charges a text field of `characters` characters to `address`. Returns 0 when it may be read on (it was charged,
   * even when it takes the window past its limit), else the milliseconds until the address's budget has room again
   * (nothing charged: the field is refused unread).
   */
  charge(address: string, characters: number): number {
    const units = uploadFieldUnits(characters);
    if (units === 0) return 0;
    const now = this.now();
    let entry = this.windows.get(address);
    if (entry === undefined) {
      if (this.windows.size >= this.sweepAt) this.sweep(now);
      entry = { units: 0, endsAt: now + this.window.ttlMs, blocked: false };
      this.windows.set(address, entry);
    } else if (entry.endsAt <= now) {
      // The window (or the block) is over: counting starts afresh.
      entry.units = 0;
      entry.endsAt = now + this.window.ttlMs;
      entry.blocked = false;
    }
    if (entry.units >= this.window.limit) return this.refuse(entry, now);
    entry.units += units;
    return 0;
  }

  /** Drops the windows that have ended. Called as the map grows; callable directly. */
  sweep(now = this.now()): void {
    for (const [address, entry] of this.windows) if (entry.endsAt <= now) this.windows.delete(address);
    this.sweepAt = Math.max(MIN_SWEEP_SIZE, this.windows.size * 2);
  }

  /** The wait of a refused address; its first refusal starts the block, when there is one (as the throttler's). */
  private refuse(entry: AddressWindow, now: number): number {
    if (!entry.blocked) {
      entry.blocked = true;
      if (this.window.blockDurationMs > 0) entry.endsAt = now + this.window.blockDurationMs;
    }
    return Math.max(1, entry.endsAt - now);
  }
}

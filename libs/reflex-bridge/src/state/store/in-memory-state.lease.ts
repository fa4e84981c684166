import { sinceStartMs } from '../../common/since-start-clock.js';
import { LockLostError, type SaveOptions, type StateLease, type StoredState } from './state-store.js';

/**
 * Milliseconds since the store's clock started: small integers, which V8 keeps inside an entry, where a `Date.now()`
 * value is a number object of its own (16 bytes more per token, for the first 24 days of a process).
 */
export function storeClock(): number {
  return sinceStartMs();
}

/** One token's entry in the in-memory store. */
export interface InMemoryEntry {
  state: StoredState | null;
  /** The size `state` was saved with (see {@link SaveOptions.stateSize}), when the saver measured it. */
  stateSize: number | undefined;
  /**
   * What the store counts this entry's state as against its byte budget: the last size a save measured (a save
   * without one changed only small values, see {@link SaveOptions.stateSize}), or 0 before any.
   */
  countedBytes: number;
  /** When the lock was last released, on {@link storeClock} (an entry is idle, and can expire, only while unlocked). */
  lastUsed: number;
  /** Saved as provisional: expires after the short TTL. */
  provisional: boolean;
  /**
   * Resolvers of the callers waiting for the lock, in arrival order; `undefined` while nobody waits (most tokens,
   * most of the time: an idle connection's entry then holds no array).
   */
  waiters: Array<() => void> | undefined;
  locked: boolean;
}

/** What a lease tells the store that made it: a state was written, a lock given back. */
export interface InMemoryLeaseOwner {
  /** `entry` now holds a new state, counted as `bytes` (see {@link InMemoryEntry.countedBytes}). */
  stored(entry: InMemoryEntry, bytes: number): void;
  /** `entry`, of `token`, is unlocked and nobody waits for it. */
  unlocked(token: string, entry: InMemoryEntry): void;
}

/**
 * The in-memory store's lease on one entry. A class rather than an object of closures: one lease is made per
 * event, and this is one allocation instead of three. Save and release complete synchronously.
 */
export class InMemoryStateLease implements StateLease {
  readonly state: StoredState | null;
  readonly stateSize: number | undefined;
  private held = true;

  constructor(
    readonly token: string,
    private readonly entry: InMemoryEntry,
    private readonly owner: InMemoryLeaseOwner,
  ) {
    this.state = entry.state;
    this.stateSize = entry.state === null ? undefined : entry.stateSize;
  }

  save(state: StoredState, options?: SaveOptions): void {
    if (!this.held) throw new LockLostError(this.token);
    const entry = this.entry;
    const measured = options?.stateSize;
    entry.state = state;
    entry.stateSize = measured;
    entry.provisional = options?.provisional === true;
    this.owner.stored(entry, measured ?? entry.countedBytes);
  }

  /** The lock lives until released: renewing only checks it is still held. */
  renew(): void {
    if (!this.held) throw new LockLostError(this.token);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    const entry = this.entry;
    entry.lastUsed = storeClock();
    const waiters = entry.waiters;
    const next = waiters?.shift();
    if (waiters?.length === 0) entry.waiters = undefined;
    // Hand the lock straight to the next waiter so nobody can barge in between.
    if (next) next();
    else {
      entry.locked = false;
      this.owner.unlocked(this.token, entry);
    }
  }
}

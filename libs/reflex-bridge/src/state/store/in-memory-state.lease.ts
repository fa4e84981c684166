import { LockLostError, type SaveOptions, type StateLease, type StoredState } from './state-store.js';

/** When this module was loaded: entry times count from here. */
const STARTED = Date.now();

/**
 * Milliseconds since the store's clock started: small integers, which V8 keeps inside an entry, where a `Date.now()`
 * value is a number object of its own (16 bytes more per token, for the first 24 days of a process).
 */
export function storeClock(): number {
  return Date.now() - STARTED;
}

/** One token's entry in the in-memory store. */
export interface InMemoryEntry {
  state: StoredState | null;
  /** The size `state` was saved with (see {@link SaveOptions.stateSize}), when the saver measured it. */
  stateSize: number | undefined;
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
    /** The store's entries: an entry left without a state and without a holder is dropped from it on release. */
    private readonly entries: Map<string, InMemoryEntry>,
  ) {
    this.state = entry.state;
    this.stateSize = entry.state === null ? undefined : entry.stateSize;
  }

  save(state: StoredState, options?: SaveOptions): void {
    if (!this.held) throw new LockLostError(this.token);
    this.entry.state = state;
    this.entry.stateSize = options?.stateSize;
    this.entry.provisional = options?.provisional === true;
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
      // Nothing saved for a token that had no state (an out-of-band change refused for an unknown token, say):
      // its entry would otherwise stay until the sweep, one per token a client made up.
      if (entry.state === null && this.entries.get(this.token) === entry) this.entries.delete(this.token);
    }
  }
}

import { InMemoryStateLease, storeClock, type InMemoryEntry as Entry } from './in-memory-state.lease.js';
import { StateStore, type StateLease, type StoredState } from './state-store.js';

/** Options of {@link InMemoryStateStore}. */
export interface InMemoryStateStoreOptions {
  /** Seconds an idle token's state is kept. @default 3600 */
  ttlSeconds?: number;
  /** Seconds an idle token's state is kept while it is provisional (see {@link SaveOptions}). @default 120 */
  unusedTtlSeconds?: number;
}

/**
 * The default store: one process, states kept as objects (no serialisation), a FIFO lock per token, and
 * a sweep that drops tokens idle for longer than the TTL.
 * @publicApi
 */
export class InMemoryStateStore extends StateStore {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly unusedTtlMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: InMemoryStateStoreOptions = {}) {
    super();
    this.ttlMs = (options.ttlSeconds ?? 3600) * 1000;
    this.unusedTtlMs = Math.min(this.ttlMs, (options.unusedTtlSeconds ?? 120) * 1000);
    // Sweep a few times per TTL; unref so the timer never keeps a process alive.
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(60_000, this.unusedTtlMs / 4)));
    this.sweeper.unref();
  }

  async acquire(token: string): Promise<StateLease> {
    const entry = this.entryFor(token);
    if (entry.locked) await new Promise<void>((resolve) => (entry.waiters ??= []).push(resolve));
    return this.grant(token, entry);
  }

  /** The lease at once when nobody holds the token's lock (the uncontended event needs no promise). */
  override tryAcquireSync(token: string): StateLease | undefined {
    const entry = this.entryFor(token);
    return entry.locked ? undefined : this.grant(token, entry);
  }

  async read(token: string): Promise<StoredState | null> {
    const entry = this.entries.get(token);
    return entry && !this.isExpired(entry) ? entry.state : null;
  }

  async delete(token: string): Promise<void> {
    const entry = this.entries.get(token);
    if (!entry) return;
    entry.state = null;
    if (!entry.locked) this.entries.delete(token);
  }

  /** How many tokens the store keeps an entry for: a state, or a lock held or waited for. */
  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private entryFor(token: string): Entry {
    let entry = this.entries.get(token);
    if (entry && this.isExpired(entry)) {
      entry.state = null;
      entry.provisional = true;
    }
    if (!entry) {
      entry = { state: null, stateSize: undefined, lastUsed: storeClock(), provisional: true, waiters: undefined, locked: false };
      this.entries.set(token, entry);
    }
    return entry;
  }

  /**
   * Locks the entry for the caller. Its idle time is not touched here: an entry only expires while unlocked,
   * and releasing the lease stamps it.
   */
  private grant(token: string, entry: Entry): StateLease {
    entry.locked = true;
    return new InMemoryStateLease(token, entry, this.entries);
  }

  private isExpired(entry: Entry): boolean {
    return !entry.locked && storeClock() - entry.lastUsed > (entry.provisional ? this.unusedTtlMs : this.ttlMs);
  }

  private sweep(): void {
    for (const [token, entry] of this.entries) {
      if (this.isExpired(entry) && entry.waiters === undefined) this.entries.delete(token);
    }
  }
}

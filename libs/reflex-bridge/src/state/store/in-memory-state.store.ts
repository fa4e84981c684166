import { Logger } from '@nestjs/common';
import { getHeapStatistics } from 'node:v8';
import { InMemoryStateLease, storeClock, type InMemoryEntry as Entry, type InMemoryLeaseOwner } from './in-memory-state.lease.js';
import { StateStore, type StateLease, type StoredState } from './state-store.js';
import { knownOptions, positiveOption } from '../../common/connection-options.js';

/** Options of {@link InMemoryStateStore}. */
export interface InMemoryStateStoreOptions {
  /** Seconds an idle token's state is kept. @default 3600 */
  ttlSeconds?: number;
  /** Seconds an idle token's state is kept while it is provisional (see {@link SaveOptions}). @default 120 */
  unusedTtlSeconds?: number;
  /**
   * Bytes of state (as the module's state-size check measures them, about their JSON size) the store holds in all.
   * Past it, states nobody uses are dropped until it holds 90% of this: provisional ones first, then the least
   * recently used. Never a state under a lock, nor one {@link isConnected} keeps: the budget bounds what clients
   * leave behind (tokens made up and abandoned, tabs closed), not the states of tabs still open.
   * @default a quarter of the V8 heap limit
   */
  maxBytes?: number;
  /**
   * Whether a tab holding `token` is connected (the module passes: a socket on this worker holds it). Such states
   * are never dropped over {@link maxBytes}: their tabs go on showing them and receive live changes into them.
   * @default none is
   */
  isConnected?: (token: string) => boolean;
}

/** The keys of {@link InMemoryStateStoreOptions}: any other is refused. */
const IN_MEMORY_STATE_STORE_OPTIONS: readonly (keyof InMemoryStateStoreOptions)[] = ['ttlSeconds', 'unusedTtlSeconds', 'maxBytes', 'isConnected'];

/** What the store keeps after dropping states over its budget, as a share of it (so drops come in batches). */
const REFILL_RATIO = 0.9;
const NEVER_CONNECTED = (): boolean => false;
/** Least milliseconds between two warnings about dropped states. */
const DROP_WARNING_INTERVAL_MS = 60_000;

/** The default budget: a quarter of the heap the process may use, so that states alone never exhaust it. */
export function defaultInMemoryStateBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/**
 * The default store: one process, states kept as objects (no serialisation), a FIFO lock per token, a sweep that
 * drops tokens idle for longer than the TTL, and a byte budget over all states: however many tokens clients make up,
 * the states held stay within it.
 * @publicApi
 */
export class InMemoryStateStore extends StateStore implements InMemoryLeaseOwner {
  private readonly logger = new Logger('ReflexBridge');
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly unusedTtlMs: number;
  private readonly maxBytes: number;
  private readonly isConnected: (token: string) => boolean;
  private readonly sweeper: NodeJS.Timeout;
  private heldBytes = 0;
  /**
   * Drops run when the held bytes pass this: the budget, or more after a drop that could not get below 90% of it
   * (states of connected tabs or under a lock filled it), so that the next drop waits for another tenth of the
   * budget rather than running again on every save.
   */
  private dropAbove: number;
  private dropped = 0;
  private droppedSinceWarning = 0;
  private lastWarning = -Infinity;

  /** @param options see {@link InMemoryStateStoreOptions}. */
  constructor(options: InMemoryStateStoreOptions = {}) {
    super();
    knownOptions('InMemoryStateStore', options, IN_MEMORY_STATE_STORE_OPTIONS);
    // A negative or NaN one would drop every state at once, or keep them all for ever, without a word.
    this.ttlMs = positiveOption('InMemoryStateStore', 'ttlSeconds', options.ttlSeconds, 3600) * 1000;
    this.unusedTtlMs = Math.min(this.ttlMs, positiveOption('InMemoryStateStore', 'unusedTtlSeconds', options.unusedTtlSeconds, 120) * 1000);
    this.maxBytes = positiveOption('InMemoryStateStore', 'maxBytes', options.maxBytes, defaultInMemoryStateBytes());
    this.dropAbove = this.maxBytes;
    if (options.isConnected !== undefined && typeof options.isConnected !== 'function') {
      throw new TypeError(`InMemoryStateStore: "isConnected" must be a function (token) => boolean, got ${typeof options.isConnected}`);
    }
    this.isConnected = options.isConnected ?? NEVER_CONNECTED;
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

  /** One entry of the token's state, without copying anything (see {@link StateStore.readEntry}). */
  override async readEntry(token: string, name: string): Promise<Record<string, unknown> | null> {
    const entry = this.entries.get(token);
    return (entry && !this.isExpired(entry) ? entry.state?.[name] : undefined) ?? null;
  }

  async delete(token: string): Promise<void> {
    const entry = this.entries.get(token);
    if (!entry) return;
    this.dropState(entry);
    if (!entry.locked) this.entries.delete(token);
  }

  /** How many tokens the store keeps an entry for: a state, or a lock held or waited for. */
  get size(): number {
    return this.entries.size;
  }

  /** About how many bytes of state the store holds, as counted against its `maxBytes`. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** How many idle states were dropped, since the store started, to keep within `maxBytes`. */
  get droppedOverBudget(): number {
    return this.dropped;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** @internal Called by the lease on save (see {@link InMemoryLeaseOwner}). */
  stored(entry: Entry, bytes: number): void {
    this.heldBytes += bytes - entry.countedBytes;
    entry.countedBytes = bytes;
    if (this.heldBytes > this.dropAbove) this.dropOverBudget();
  }

  /** @internal Called by the lease on release (see {@link InMemoryLeaseOwner}). */
  unlocked(token: string, entry: Entry): void {
    // Nothing saved for a token that had no state (an out-of-band change refused for an unknown token, say):
    // its entry would otherwise stay until the sweep, one per token a client made up.
    if (entry.state === null && this.entries.get(token) === entry) this.entries.delete(token);
  }

  private entryFor(token: string): Entry {
    let entry = this.entries.get(token);
    if (entry && this.isExpired(entry)) {
      this.dropState(entry);
      entry.provisional = true;
    }
    if (!entry) {
      entry = { state: null, stateSize: undefined, countedBytes: 0, lastUsed: storeClock(), provisional: true, waiters: undefined, locked: false };
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
    return new InMemoryStateLease(token, entry, this);
  }

  private isExpired(entry: Entry): boolean {
    return !entry.locked && storeClock() - entry.lastUsed > (entry.provisional ? this.unusedTtlMs : this.ttlMs);
  }

  private dropState(entry: Entry): void {
    entry.state = null;
    this.heldBytes -= entry.countedBytes;
    entry.countedBytes = 0;
    // Room came back (an expiry, a delete): drops start at the budget again.
    if (this.dropAbove > this.maxBytes) this.dropAbove = Math.max(this.maxBytes, Math.min(this.dropAbove, this.heldBytes + this.maxBytes * (1 - REFILL_RATIO)));
  }

  /**
   * Drops unused states until the store holds {@link REFILL_RATIO} of its budget: provisional ones first (they hold
   * only defaults), then the least recently used. States under a lock or of a connected tab are never dropped, so an
   * event under way and an open tab keep theirs. Runs once per tenth of the budget at most (see {@link dropAbove}),
   * so its sort is paid rarely even when clients fill it fast.
   */
  private dropOverBudget(): void {
    const idle: Array<[string, Entry]> = [];
    for (const pair of this.entries) if (!pair[1].locked && pair[1].state !== null && !this.isConnected(pair[0])) idle.push(pair);
    idle.sort(([, a], [, b]) => Number(b.provisional) - Number(a.provisional) || a.lastUsed - b.lastUsed);
    const target = this.maxBytes * REFILL_RATIO;
    let count = 0;
    for (const [token, entry] of idle) {
      if (this.heldBytes <= target) break;
      this.dropState(entry);
      this.entries.delete(token);
      count++;
    }
    this.dropped += count;
    this.droppedSinceWarning += count;
    this.dropAbove = Math.max(this.maxBytes, this.heldBytes + this.maxBytes * (1 - REFILL_RATIO));
    const now = storeClock();
    if (this.droppedSinceWarning > 0 && now - this.lastWarning >= DROP_WARNING_INTERVAL_MS) {
      this.logger.warn(
        `The in-memory state store reached its budget of ${this.maxBytes} bytes: ${this.droppedSinceWarning} states no open tab holds were dropped, ` +
          'the least recently used first (a tab that comes back with one of their tokens starts from a fresh state). Raise maxInMemoryStateBytes, or keep states in Redis (redisUrl).',
      );
      this.droppedSinceWarning = 0;
      this.lastWarning = now;
    }
  }

  private sweep(): void {
    for (const [token, entry] of this.entries) {
      if (this.isExpired(entry) && entry.waiters === undefined) {
        this.dropState(entry);
        this.entries.delete(token);
      }
    }
  }
}

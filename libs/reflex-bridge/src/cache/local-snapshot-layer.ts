import { canonicalString } from '../common/canonical-string.js';
import type { AuthSnapshot } from './event-cache.options.js';

interface LocalEntry {
  snapshot: AuthSnapshot;
  expiresAt: number;
}

/**
 * The synchronous in-process layer in front of the event cache: a bounded map of frozen snapshots by
 * session id, each served until its own expiry. It answers fast auth without a promise; the cache behind it
 * (cache-manager, asynchronous) is asked only on a miss here. Bounded: once it holds `maxEntries`, writing a
 * new session drops the oldest-written one (all entries share one TTL, so that is also the one that expires
 * first). A hit costs one map lookup and one clock read, and moves nothing.
 */
export class LocalSnapshotLayer {
  private readonly entries = new Map<string, LocalEntry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The snapshot for a session, while it is fresh. */
  get(sessionId: string): AuthSnapshot | undefined {
    const entry = this.entries.get(sessionId);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(sessionId);
      return undefined;
    }
    return entry.snapshot;
  }

  /** Keeps a frozen copy of `snapshot` for `ttlMs`; returns the copy. */
  set(sessionId: string, snapshot: AuthSnapshot, ttlMs: number): AuthSnapshot {
    // A copy, frozen: readers share it, and the caller's object stays its own (as with a serialising store).
    // `readAtMs` only when it is a time: a shared cache's entry is read back as the store gave it.
    const readAtMs = typeof snapshot.readAtMs === 'number' && Number.isFinite(snapshot.readAtMs) ? snapshot.readAtMs : undefined;
    const stored: AuthSnapshot = Object.freeze({ userId: snapshot.userId, isAuthenticated: snapshot.isAuthenticated, readAtMs });
    if (ttlMs <= 0) return stored;
    // Re-inserted, so that the map's order stays the order of writes. Keyed by the canonical copy of the id, as fast
    // auth's verified ids are: a lookup then matches by identity instead of comparing characters.
    this.entries.delete(sessionId);
    this.entries.set(canonicalString(sessionId), { snapshot: stored, expiresAt: this.now() + ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return stored;
  }

  delete(sessionId: string): void {
    this.entries.delete(sessionId);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

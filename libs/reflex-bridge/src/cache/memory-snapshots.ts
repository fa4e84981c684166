import type { AuthSnapshot } from './event-cache.options.js';

/**
 * The default, in-process snapshot store: a map of frozen snapshots with their expiry. Expired entries are
 * dropped when read, and swept whenever the map has doubled since the last sweep, so sessions that never
 * come back do not pile up.
 */
export class MemorySnapshots {
  private readonly entries = new Map<string, { snapshot: AuthSnapshot; expiresAt: number }>();
  private sweepAt = 1_024;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(sessionId: string): AuthSnapshot | undefined {
    const entry = this.entries.get(sessionId);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(sessionId);
      return undefined;
    }
    return entry.snapshot;
  }

  set(sessionId: string, snapshot: AuthSnapshot): void {
    // A copy, frozen: readers share it, and the caller's object stays its own (as with a serialising store).
    const stored: AuthSnapshot = Object.freeze({ userId: snapshot.userId, isAuthenticated: snapshot.isAuthenticated });
    this.entries.delete(sessionId);
    this.entries.set(sessionId, { snapshot: stored, expiresAt: this.now() + this.ttlMs });
    if (this.entries.size >= this.sweepAt) this.sweep();
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

  private sweep(): void {
    const now = this.now();
    for (const [sessionId, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(sessionId);
    this.sweepAt = Math.max(1_024, this.entries.size * 2);
  }
}

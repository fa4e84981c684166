/** Where parked cookie handoffs live: Keyv on Redis across workers, {@link InMemoryHandoffStore} in one process. */
export interface HandoffStore<V> {
  get(id: string): Promise<V | undefined>;
  set(id: string, value: V, ttlMs: number): Promise<unknown>;
  /** `true` when this call removed the entry (whoever removes it redeems it). */
  delete(id: string): Promise<boolean>;
  disconnect(): Promise<void>;
}

/**
 * Handoffs of one process, in a map that holds only live ones. Every handoff lives for the same TTL and is written
 * in time order, so the map's oldest entries are the first to expire: each write first drops the expired ones at
 * the front, and at most `maxEntries` are kept (the oldest give way). A Keyv map drops an expired entry only when it
 * is read again, and a handoff is read once at most: every login or logout of every client stayed in memory.
 */
export class InMemoryHandoffStore<V> implements HandoffStore<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  /** How many handoffs are held, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  async get(id: string): Promise<V | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.value;
    this.entries.delete(id);
    return undefined;
  }

  async set(id: string, value: V, ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const [oldest, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size < this.maxEntries) break;
      this.entries.delete(oldest);
    }
    this.entries.set(id, { value, expiresAt: now + ttlMs });
  }

  async delete(id: string): Promise<boolean> {
    return this.entries.delete(id);
  }

  async disconnect(): Promise<void> {
    this.entries.clear();
  }
}

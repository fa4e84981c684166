/** Where parked cookie handoffs live: Keyv on Redis across workers, {@link InMemoryHandoffStore} in one process. */
export interface HandoffStore<V> {
  get(id: string): Promise<V | undefined>;
  /** `owner`: who asked for it (the client's address key); a store with a count bound makes room from the largest owner. */
  set(id: string, value: V, ttlMs: number, owner?: string): Promise<unknown>;
  /** `true` when this call removed the entry (whoever removes it redeems it). */
  delete(id: string): Promise<boolean>;
  disconnect(): Promise<void>;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
  owner: string;
}

/**
 * Handoffs of one process, in a map that holds only live ones. Every handoff lives for the same TTL and is written
 * in time order, so the map's oldest entries are the first to expire: each write first drops the expired ones at
 * the front. A Keyv map drops an expired entry only when it is read again, and a handoff is read once at most: every
 * login or logout of every client stayed in memory.
 *
 * At most `maxEntries` are kept. When full, room is made from the owner (client address) holding the most, its
 * oldest first; the writer's own when it holds as many. Giving way oldest-first overall let about 200 addresses (an
 * IPv6 /56), each at its rate limit, push out every other user's login before their tab redeemed it; now a user's
 * handoff gives way only when no address holds more than one.
 */
export class InMemoryHandoffStore<V> implements HandoffStore<V> {
  private readonly entries = new Map<string, Entry<V>>();
  /** Each owner's ids, oldest first. */
  private readonly byOwner = new Map<string, Set<string>>();
  /** Owners by how many handoffs they hold, so the largest is found without a scan. */
  private readonly ownersByCount = new Map<number, Set<string>>();
  private largestCount = 0;

  constructor(private readonly maxEntries: number) {}

  /** How many handoffs are held, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  async get(id: string): Promise<V | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.value;
    this.remove(id, entry);
    return undefined;
  }

  async set(id: string, value: V, ttlMs: number, owner = ''): Promise<void> {
    const now = Date.now();
    for (const [oldest, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.remove(oldest, entry);
    }
    const previous = this.entries.get(id);
    if (previous) this.remove(id, previous);
    this.add(id, { value, expiresAt: now + ttlMs, owner });
    while (this.entries.size > this.maxEntries) this.makeRoomFor(owner);
  }

  async delete(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.remove(id, entry);
    return true;
  }

  async disconnect(): Promise<void> {
    this.entries.clear();
    this.byOwner.clear();
    this.ownersByCount.clear();
    this.largestCount = 0;
  }

  /** Drops one handoff to make room for the one `writer` just added (never that one). */
  private makeRoomFor(writer: string): void {
    let id: string;
    if (this.largestCount <= 1) {
      // Every owner holds one: the oldest overall gives way, as it expires first.
      id = this.entries.keys().next().value as string;
    } else {
      const owner = this.byOwner.get(writer)!.size === this.largestCount ? writer : (this.ownersByCount.get(this.largestCount)!.values().next().value as string);
      id = this.byOwner.get(owner)!.values().next().value as string;
    }
    this.remove(id, this.entries.get(id)!);
  }

  private add(id: string, entry: Entry<V>): void {
    this.entries.set(id, entry);
    let ids = this.byOwner.get(entry.owner);
    if (!ids) this.byOwner.set(entry.owner, (ids = new Set()));
    this.moveOwner(entry.owner, ids.size, ids.size + 1);
    ids.add(id);
  }

  private remove(id: string, entry: Entry<V>): void {
    this.entries.delete(id);
    const ids = this.byOwner.get(entry.owner)!;
    ids.delete(id);
    this.moveOwner(entry.owner, ids.size + 1, ids.size);
    if (ids.size === 0) this.byOwner.delete(entry.owner);
  }

  /** Moves `owner` from the bucket of owners holding `from` handoffs to the one holding `to` (counts change by one). */
  private moveOwner(owner: string, from: number, to: number): void {
    const previous = this.ownersByCount.get(from);
    if (previous) {
      previous.delete(owner);
      if (previous.size === 0) this.ownersByCount.delete(from);
    }
    if (to > 0) {
      let next = this.ownersByCount.get(to);
      if (!next) this.ownersByCount.set(to, (next = new Set()));
      next.add(owner);
    }
    if (to > this.largestCount) this.largestCount = to;
    else if (from === this.largestCount && !this.ownersByCount.has(from)) this.largestCount = from - 1;
  }
}

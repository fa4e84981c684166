/**
 * A `Map` that holds at most `maxEntries` keys: writing a new key past the bound drops the oldest-written one.
 * The module's own in-memory event cache keeps its entries here, so sessions that never come back cannot
 * pile up (Keyv's in-memory store drops an expired entry only when it is read again).
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly maxEntries: number) {
    super();
  }

  override set(key: K, value: V): this {
    // Re-inserted, so that the map's order stays the order of writes.
    super.delete(key);
    super.set(key, value);
    if (this.size > this.maxEntries) super.delete(this.keys().next().value as K);
    return this;
  }
}

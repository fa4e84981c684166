import type { Cache } from 'cache-manager';

/**
 * Deletes every key under `prefix` from each Keyv store of a cache-manager `Cache`, by listing the store's
 * keys (Keyv's `iterator`: a Map, or Redis through `SCAN`). Never `cache.clear()`: on a cache the app shares,
 * that would drop the app's other keys too (and `@keyv/redis` without a namespace clears every key of the
 * database that has no `::` in it). Returns false when a store cannot list its keys: its entries under the
 * prefix then stay until they expire.
 */
export async function deleteByPrefix(cache: Pick<Cache, 'stores'>, prefix: string): Promise<boolean> {
  let listedAll = true;
  for (const store of cache.stores ?? []) {
    if (typeof store.iterator !== 'function' || hidesPrefix(store.store, prefix)) {
      listedAll = false;
      continue;
    }
    const doomed: string[] = [];
    for await (const [key] of store.iterator(undefined)) {
      if (typeof key === 'string' && key.startsWith(prefix)) doomed.push(key);
    }
    if (doomed.length > 0) await store.delete(doomed);
  }
  return listedAll;
}

/** What `@keyv/redis` tells of how it lists keys without a namespace. */
interface ListingAdapter {
  noNamespaceAffectsAll?: unknown;
  keyPrefixSeparator?: unknown;
}

/**
 * Whether the store's adapter would leave our keys out of its listing: `@keyv/redis` without a namespace lists only
 * keys free of its separator (`::`) unless `noNamespaceAffectsAll` is set (the module's own stores set it).
 */
function hidesPrefix(adapter: unknown, prefix: string): boolean {
  if (typeof adapter !== 'object' || adapter === null) return false;
  const { noNamespaceAffectsAll, keyPrefixSeparator } = adapter as ListingAdapter;
  return noNamespaceAffectsAll === false && typeof keyPrefixSeparator === 'string' && keyPrefixSeparator !== '' && prefix.includes(keyPrefixSeparator);
}

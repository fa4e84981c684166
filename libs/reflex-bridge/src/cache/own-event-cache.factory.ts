import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { ResolvedEventCacheOptions } from './event-cache.options.js';
import { BoundedMap } from './bounded-map.js';
import { createRedisKeyv, createSharedRedisKeyv } from './redis-keyv.factory.js';
import type { RedisConnections } from '../common/redis-connections.js';
import { requireRedisKeyv, type CreateRedisKeyv } from '../common/keyv-redis.loader.js';

/** The module's own event cache, and what it must close on shutdown. */
export interface OwnEventCache {
  cache: Cache;
  /** The Keyv store behind `cache`. */
  keyv: Keyv;
  /** Whether the module created `keyv` (and so disconnects it); a Keyv given as `eventCache.store` stays the app's. */
  owned: boolean;
}

/**
 * Builds the event cache when the app gives none (`eventCache.cache` unset): a cache-manager `Cache` over one
 * Keyv store, the way `CacheModule.register({ stores: [keyv] })` of `@nestjs/cache-manager` builds
 * `CACHE_MANAGER`. The store is `eventCache.store` when given, Redis (`@keyv/redis`, on the worker's shared
 * connection when `eventCache.redisUrl` is the module's `redisUrl`) with a `redisUrl`, on the module's Redis Cluster
 * with `redisCluster`, else
 * this process's memory (bounded by `localMaxEntries`). Keys are used as given: no Keyv namespace. `createKeyv` is
 * `@keyv/redis`'s, loaded by the module when it uses Redis (see `KEYV_REDIS`).
 */
export function createOwnEventCache(options: ResolvedEventCacheOptions, shared?: RedisConnections | null, createKeyv?: CreateRedisKeyv | null): OwnEventCache {
  let keyv: Keyv;
  let owned = true;
  if (options.store) {
    keyv = options.store;
    owned = false;
  } else if ((options.redisUrl && shared && shared.isFor(options.redisUrl)) || (options.onModuleCluster && shared?.isCluster)) {
    keyv = createSharedRedisKeyv(requireRedisKeyv(createKeyv, 'The event cache'), shared);
    owned = false;
  } else if (options.redisUrl) {
    keyv = createRedisKeyv(requireRedisKeyv(createKeyv, 'The event cache'), options.redisUrl);
  } else {
    // Values kept as they are (no serialisation), as cache-manager's own in-memory default does.
    keyv = new Keyv({ store: new BoundedMap(options.localMaxEntries), namespace: undefined, useKeyPrefix: false });
    keyv.serialize = undefined;
    keyv.deserialize = undefined;
  }
  return { cache: createCache({ stores: [keyv] }), keyv, owned };
}

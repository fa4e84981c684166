import type { InjectionToken } from '@nestjs/common';
import type { Keyv } from 'keyv';
import { InvalidOptionError } from '../invalid-option.error.js';
import { assertRedisUrl } from '../common/redis-url.js';
import { assertTimerMs } from '../common/timer-ms.js';

/** The `eventCache` section of the module options. */
export interface EventCacheOptions {
  /**
   * Seconds an auth snapshot is kept. `0` disables the cache entirely: no reads, no writes (and so no fast auth).
   * @default 60
   */
  ttlSeconds?: number;
  /**
   * Prefix of every cache key: a snapshot is stored under exactly `<keyPrefix><session id>`. Must not be empty
   * (`invalidateAll()` drops the keys under it).
   * @default 'rx:event:'
   */
  keyPrefix?: string;
  /**
   * The injection token of a cache-manager `Cache` the app provides, such as `CACHE_MANAGER` from
   * `CacheModule.register(...)` (`@nestjs/cache-manager`), or an alias of it
   * (`{ provide: 'reflex_events', useExisting: CACHE_MANAGER }`). Resolved from the app's container at startup;
   * a token nothing provides fails the startup. Takes precedence over `redisUrl` and `store`.
   * @default undefined (the module builds its own cache: in memory, or in Redis with `redisUrl`)
   * @example
   * ```ts
   * imports: [
   *   CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(process.env.REDIS_URL)] }),
   *   ReflexBridgeModule.forRoot({ eventCache: { cache: CACHE_MANAGER } }),
   * ]
   * ```
   */
  cache?: InjectionToken;
  /**
   * A Redis URL: the module's own cache lives in Redis (through `@keyv/redis`), shared by every worker.
   * @default undefined (in memory, this process only); falls back to the top-level `redisUrl`
   */
  redisUrl?: string;
  /**
   * A ready Keyv instance to back the module's own cache (any Keyv store). Takes precedence over `redisUrl`.
   * @deprecated Give the app's cache-manager `Cache` with `cache` instead (`CacheModule.register({ stores: [keyv] })`).
   * @default undefined
   */
  store?: Keyv;
  /**
   * Milliseconds a cache operation may take before it counts as failed (the event then goes through the
   * middleware, and a warning is logged).
   * @default 250
   */
  operationTimeoutMs?: number;
  /**
   * Milliseconds a snapshot is served from this process's synchronous in-process layer without asking the
   * cache. With a shared cache (`cache`, `redisUrl`, `store`) this bounds how long a worker may still serve a
   * snapshot another worker invalidated without telling it: keep it short. `0` turns the layer off (every
   * lookup asks the cache). At most `ttlSeconds` × 1000.
   * @default ttlSeconds × 1000 with the module's own in-memory cache (nothing else can invalidate it); 1000 with a shared cache
   */
  localTtlMs?: number;
  /**
   * Most snapshots the in-process layer holds (the oldest are dropped first); also bounds the module's own
   * in-memory cache.
   * @default 10000
   */
  localMaxEntries?: number;
}

/** The `eventCache` section with every default filled in. */
export interface ResolvedEventCacheOptions {
  ttlSeconds: number;
  keyPrefix: string;
  operationTimeoutMs: number;
  localTtlMs: number;
  localMaxEntries: number;
  cache: InjectionToken | undefined;
  redisUrl: string | undefined;
  store: Keyv | undefined;
  /** Whether other processes may write or delete entries (`cache`, `redisUrl`, `store`, or the module's `redisCluster`). */
  shared: boolean;
  /** The cache lives on the module's Redis Cluster (`redisCluster`, no cache, store or URL of the section's own). */
  onModuleCluster?: boolean;
}

/** The defaults of the `eventCache` section. */
export const EVENT_CACHE_DEFAULTS = { ttlSeconds: 60, keyPrefix: 'rx:event:', operationTimeoutMs: 250, sharedLocalTtlMs: 1000, localMaxEntries: 10_000 } as const;

const KNOWN_KEYS = ['ttlSeconds', 'keyPrefix', 'cache', 'redisUrl', 'store', 'operationTimeoutMs', 'localTtlMs', 'localMaxEntries'];

/** Merges the defaults into the `eventCache` section and validates it; `moduleRedisUrl` is the top-level `redisUrl`. */
export function resolveEventCacheOptions(options: EventCacheOptions = {}, moduleRedisUrl?: string, moduleRedisCluster = false): ResolvedEventCacheOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InvalidOptionError('eventCache', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.includes(key)) throw new InvalidOptionError(`eventCache.${key}`, 'unknown option');
  }
  const ttlSeconds = options.ttlSeconds ?? EVENT_CACHE_DEFAULTS.ttlSeconds;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds < 0) {
    throw new InvalidOptionError('eventCache.ttlSeconds', `expected a number of seconds ≥ 0, got ${JSON.stringify(ttlSeconds)}`);
  }
  const keyPrefix = options.keyPrefix ?? EVENT_CACHE_DEFAULTS.keyPrefix;
  if (typeof keyPrefix !== 'string' || keyPrefix === '') {
    throw new InvalidOptionError('eventCache.keyPrefix', `expected a non-empty string, got ${JSON.stringify(keyPrefix)}`);
  }
  const cache = options.cache;
  if (cache !== undefined && typeof cache !== 'string' && typeof cache !== 'symbol' && typeof cache !== 'function') {
    throw new InvalidOptionError('eventCache.cache', 'expected an injection token (a string, a symbol or a class), such as CACHE_MANAGER');
  }
  if (cache !== undefined && (options.redisUrl !== undefined || options.store !== undefined)) {
    throw new InvalidOptionError('eventCache.cache', 'give either the app\'s cache (cache) or the module\'s own (redisUrl, store), not both');
  }
  assertRedisUrl('eventCache.redisUrl', options.redisUrl);
  const store = options.store;
  if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.set !== 'function')) {
    throw new InvalidOptionError('eventCache.store', 'expected a Keyv instance');
  }
  const operationTimeoutMs = options.operationTimeoutMs ?? EVENT_CACHE_DEFAULTS.operationTimeoutMs;
  if (typeof operationTimeoutMs !== 'number' || !Number.isFinite(operationTimeoutMs) || operationTimeoutMs <= 0) {
    throw new InvalidOptionError('eventCache.operationTimeoutMs', `expected a positive number, got ${JSON.stringify(operationTimeoutMs)}`);
  }
  assertTimerMs('eventCache.operationTimeoutMs', operationTimeoutMs);
  const redisUrl = cache === undefined ? (options.redisUrl ?? moduleRedisUrl) : undefined;
  // With the module's redisCluster (and no cache, store or URL of its own), the cache lives on the cluster.
  const onModuleCluster = moduleRedisCluster && cache === undefined && store === undefined && redisUrl === undefined;
  const shared = cache !== undefined || store !== undefined || redisUrl !== undefined || onModuleCluster;
  const ttlMs = ttlSeconds * 1000;
  const localTtlMs = options.localTtlMs ?? (shared ? Math.min(EVENT_CACHE_DEFAULTS.sharedLocalTtlMs, ttlMs) : ttlMs);
  if (typeof localTtlMs !== 'number' || !Number.isFinite(localTtlMs) || localTtlMs < 0 || localTtlMs > ttlMs) {
    throw new InvalidOptionError('eventCache.localTtlMs', `expected milliseconds from 0 to ttlSeconds × 1000 (${ttlMs}), got ${JSON.stringify(localTtlMs)}`);
  }
  const localMaxEntries = options.localMaxEntries ?? EVENT_CACHE_DEFAULTS.localMaxEntries;
  if (typeof localMaxEntries !== 'number' || !Number.isSafeInteger(localMaxEntries) || localMaxEntries <= 0) {
    throw new InvalidOptionError('eventCache.localMaxEntries', `expected a positive integer, got ${JSON.stringify(localMaxEntries)}`);
  }
  return { ttlSeconds, keyPrefix, operationTimeoutMs, localTtlMs, localMaxEntries, cache, redisUrl, store, shared, onModuleCluster };
}

/** The `fastAuth` section: skip session and auth middleware on `auth_only` events with a fresh snapshot. */
export interface FastAuthOptions {
  /**
   * The secret(s) the session middleware signs its cookie with (express-session's `secret`), to read the
   * session id from the cookie without running the middleware. Required.
   */
  sessionSecret: string | string[];
  /**
   * The session cookie's name.
   * @default 'connect.sid'
   */
  sessionCookieName?: string;
  /**
   * Loads a user by the id kept in the snapshot; `undefined`/`null` means the user is gone (anonymous).
   */
  loadUser: (id: string | number) => unknown;
  /**
   * The id of a user object, as stored in the snapshot.
   * @default user.id
   */
  userIdOf?: (user: Record<string, unknown>) => string | number;
}

/** What the cache keeps per session: enough to rebuild `req.user` without the middleware. */
export interface AuthSnapshot {
  userId: string | number | null;
  isAuthenticated: boolean;
  /**
   * When the session it was made of was read (`Date.now()`): how old the user fast auth answers with is
   * (`@AuthMaxAge`). Written by the module; a snapshot without it (written by a version before it, or by hand) is
   * too old for any handler with an `@AuthMaxAge`.
   */
  readAtMs?: number;
}

/** Why an entry was dropped. */
export interface EventCacheInvalidation {
  /** The session id, or `undefined` when every entry was dropped. */
  sessionId?: string;
  /**
   * `logout`: the app ended the session (logout, destroy, regeneration); `deleted`: the session was deleted,
   * expired or evicted in the session store itself (see the `sessionStore` option); `manual`: `invalidate()`;
   * `all`: `invalidateAll()`.
   */
  reason: 'logout' | 'deleted' | 'manual' | 'all';
}

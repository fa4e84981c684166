import type { ThrottlerStorage } from '@nestjs/throttler';

/**
 * A `@nestjs/throttler` {@link ThrottlerStorage} that can also count a hit and answer with the exact wait, in
 * milliseconds, which is what the event pipeline needs for a `rate_limited` error's `retryAfterMs`. The
 * throttler's own record reports whole seconds (it feeds HTTP `Retry-After` headers).
 *
 * Both storages of the library implement it with the same fixed-window semantics: a counter per `(key,
 * throttlerName)` starts a window of `ttl` ms at its first hit; hits up to `limit` pass; the hit after them blocks
 * the counter for `blockDuration` ms (or, with `blockDuration` 0, until the window ends), and once that time is
 * over counting starts afresh. Hits while blocked are refused and do not prolong the block.
 *
 * Any other `ThrottlerStorage` works as well (the pipeline then calls `increment` and rounds its seconds).
 */
export interface RateLimitStorage extends ThrottlerStorage {
  /**
   * Counts one hit on the counter `(key, throttlerName)`. Returns 0 when the hit is allowed, else the milliseconds
   * until the counter lets hits through again (always ≥ 1). Synchronous when the storage can answer at once.
   */
  hit(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): number | Promise<number>;
}

/** True for a storage with the millisecond {@link RateLimitStorage.hit} method. */
export function isRateLimitStorage(storage: ThrottlerStorage): storage is RateLimitStorage {
  return typeof (storage as Partial<RateLimitStorage>).hit === 'function';
}

/**
 * DI token of the storage the module counts `@Throttle` handler limits in (the in-memory one, a
 * `RedisThrottlerStorage` with `redisUrl`, or `rateLimit.storage`). Exported so an app can hand the same storage to
 * `ThrottlerModule` for its HTTP routes: with Redis, every worker then shares the HTTP counters too.
 * @publicApi
 */
export const RATE_LIMIT_STORAGE = Symbol('ReflexBridgeRateLimitStorage');

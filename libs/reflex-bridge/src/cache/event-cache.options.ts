import type { Keyv } from 'keyv';

/** The `eventCache` section of the module options. */
export interface EventCacheOptions {
  /**
   * Seconds an auth snapshot is kept. `0` disables the cache entirely: no reads, no writes (and so no fast auth).
   * @default 60
   */
  ttlSeconds?: number;
  /**
   * Prefix of every cache key (`<prefix><session id>`).
   * @default 'rx:event:'
   */
  keyPrefix?: string;
  /**
   * A Redis URL: the cache lives in Redis (through `@keyv/redis`), shared by every worker.
   * @default undefined (in memory, this process only)
   */
  redisUrl?: string;
  /**
   * A ready Keyv instance to use instead (any Keyv store). Takes precedence over `redisUrl`.
   * @default undefined
   */
  store?: Keyv;
  /**
   * Milliseconds a cache operation may take before it counts as failed (the event then goes through the
   * middleware, and a warning is logged).
   * @default 250
   */
  operationTimeoutMs?: number;
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

import { InvalidOptionError } from '../invalid-option.error.js';

/**
 * Where the app's sessions live, when that is Redis (connect-redis), so the bridge hears of sessions deleted,
 * expired or evicted in Redis itself (an admin's `DEL`, a TTL running out, memory pressure) and ends them at
 * once: their fast-auth snapshots are dropped on every worker and their open connections re-authenticate or
 * disconnect (`bridge.sessionEndAction`). Logouts through the session store's `destroy` are seen without it.
 *
 * The bridge subscribes to the Redis keyspace notifications of the session keys (`del`, `unlink`, `expired`,
 * `evicted`), which Redis sends only when `notify-keyspace-events` includes `K`, `g`, `x` and `e`.
 */
export interface SessionStoreOptions {
  /**
   * The Redis holding the sessions (a database number in the path is honoured: `redis://host:6379/2`).
   * @default the module's `redisUrl`
   */
  redisUrl?: string;
  /**
   * The session key prefix: a session's key is `<prefix><session id>` (connect-redis' `prefix` option).
   * @default 'sess:'
   */
  prefix?: string;
  /**
   * At startup, add the flags the bridge needs (`Kgxe`) to the server's `notify-keyspace-events` with
   * `CONFIG SET`, keeping the flags already set, and again after each reconnection (a restarted Redis forgets
   * a `CONFIG SET` unless it is in its configuration file). Managed Redis services often refuse `CONFIG`: a
   * warning then says what to set. `false` leaves the server's configuration alone.
   * @default true
   */
  configureNotifications?: boolean;
}

/** {@link SessionStoreOptions} after defaults were merged. */
export interface ResolvedSessionStoreOptions {
  redisUrl: string;
  prefix: string;
  configureNotifications: boolean;
  /** The database number of `redisUrl` (the keyspace channel names it). */
  database: number;
}

/** Validates the `sessionStore` option; `undefined` when it is not set. */
export function resolveSessionStoreOptions(value: SessionStoreOptions | undefined, moduleRedisUrl: string | undefined, moduleRedisCluster = false): ResolvedSessionStoreOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('sessionStore', 'expected an object such as { prefix: "sess:" }');
  }
  for (const key of Object.keys(value)) {
    if (!['redisUrl', 'prefix', 'configureNotifications'].includes(key)) throw new InvalidOptionError(`sessionStore.${key}`, 'unknown option');
  }
  const redisUrl = value.redisUrl ?? moduleRedisUrl;
  if (redisUrl === undefined && moduleRedisCluster) {
    // Keyspace notifications stay on the node that emitted them: one subscription cannot hear a whole cluster.
    throw new InvalidOptionError(
      'sessionStore.redisUrl',
      'required with redisCluster: watching sessions needs keyspace notifications, which a Redis Cluster sends only from the node holding each key; keep the sessions in one Redis and give its URL here, or leave sessionStore out (logouts through the session store are still seen)',
    );
  }
  if (redisUrl === undefined) throw new InvalidOptionError('sessionStore.redisUrl', 'required when the module has no redisUrl');
  let database = 0;
  try {
    const url = new URL(redisUrl);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('not a Redis URL');
    const path = url.pathname.replace(/^\//, '');
    if (path !== '') {
      if (!/^\d+$/.test(path)) throw new Error('the path must be a database number');
      database = Number(path);
    }
  } catch (error) {
    throw new InvalidOptionError('sessionStore.redisUrl', `expected a URL such as redis://localhost:6379 (${(error as Error).message})`);
  }
  const prefix = value.prefix ?? 'sess:';
  if (typeof prefix !== 'string' || prefix === '') throw new InvalidOptionError('sessionStore.prefix', 'expected a non-empty string such as "sess:"');
  const configureNotifications = value.configureNotifications ?? true;
  if (typeof configureNotifications !== 'boolean') throw new InvalidOptionError('sessionStore.configureNotifications', 'expected a boolean');
  return { redisUrl, prefix, configureNotifications, database };
}

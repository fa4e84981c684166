/** What the shop reads from its environment; the library itself reads nothing. */
export interface ShopConfig {
  port: number;
  /** Redis for sessions, state and fan-out when several workers run; unset: everything in memory. */
  redisUrl?: string;
  /** Postgres connection string; unset: an embedded SQLite database. */
  databaseUrl?: string;
  /** SQLite file for the embedded default (`:memory:` keeps nothing). */
  sqlitePath: string;
  sessionSecret: string;
  production: boolean;
  /** Behind a TLS proxy that sets X-Forwarded-For/-Proto (TRUST_PROXY=1): trust those headers. */
  trustProxy: boolean;
}

export function readShopConfig(env: NodeJS.ProcessEnv = process.env): ShopConfig {
  return {
    port: Number(env.PORT ?? 3000),
    redisUrl: env.REDIS_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    sqlitePath: env.SQLITE_PATH ?? ':memory:',
    sessionSecret: env.SESSION_SECRET ?? 'shop-dev-secret-change-me',
    production: env.NODE_ENV === 'production',
    trustProxy: env.TRUST_PROXY === '1' || env.TRUST_PROXY === 'true',
  };
}

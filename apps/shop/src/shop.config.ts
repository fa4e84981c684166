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
  /**
   * Seed the demo accounts (`demo` / `demo123`, `staff` / `staff123`) on start: always outside production, and in
   * production only with DEMO_USERS=1 (a trial deployment; never on a public server: anyone could log in as staff).
   */
  demoUsers: boolean;
  /**
   * The interface to listen on (HOST); unset: every interface, or loopback (`127.0.0.1`) with DEVTOOLS=1, whose pages
   * show every tab's token and state to whoever reaches the port. Behind a proxy on the same machine, `127.0.0.1`.
   */
  host?: string;
  /** Behind a TLS proxy that sets X-Forwarded-For/-Proto (TRUST_PROXY=1): trust those headers. */
  trustProxy: boolean;
  /**
   * Origins besides the shop's own that browsers may use it from (FRONTEND_ORIGINS, comma-separated, e.g.
   * `http://localhost:5173` for a frontend dev server): they may open the event socket, complete logins and post
   * to the HTTP routes. Unset: the shop's own origin only.
   */
  frontendOrigins?: string[];
  /** DEVTOOLS=1: the bridge's devtools at /_bridge/devtools (never in production, whatever DEVTOOLS says). */
  devtools: boolean;
  /**
   * Where uploaded avatars and product pictures are kept and served from at `/_upload/...` (UPLOAD_DIR; relative
   * paths against the working directory). Default: `data/uploads`, beside the shop's other files.
   */
  uploadDir: string;
  /**
   * How the shop serves its frontend (PROFILE): `integrated` (default: the built web app from apps/shop/web/dist, the
   * app's middleware around events), `split_dev` (development: the web app from Vite's dev server at
   * VITE_DEV_URL, default http://localhost:5173, proxied with its HMR socket), `reflex_only` (the built web app, events
   * without the app's middleware or guards: no session or user on events, so no login; the cart's login guard does
   * not run).
   */
  profile: 'integrated' | 'split_dev' | 'reflex_only';
  /** Vite's dev server, for the `split_dev` profile (VITE_DEV_URL). */
  devServerUrl: string;
  /** Worker processes sharing the port through Node's cluster module (WORKERS, 1 to {@link MAX_WORKERS}; default 1). */
  workers: number;
}

/** The most WORKERS the shop forks: one per core is the useful number, and a typo must not fork without end. */
export const MAX_WORKERS = 256;

const PROFILES = new Set(['integrated', 'split_dev', 'reflex_only']);

/** The shortest SESSION_SECRET production accepts (`openssl rand -base64 48` gives 64 characters). */
const MIN_SECRET_CHARS = 32;

export function readShopConfig(env: NodeJS.ProcessEnv = process.env): ShopConfig {
  const production = env.NODE_ENV === 'production';
  // In production the session secret signs every login: the development default, public in this repository, or a
  // short one would let anyone forge a session cookie.
  if (production && (env.SESSION_SECRET ?? '').length < MIN_SECRET_CHARS) {
    throw new Error(`NODE_ENV=production needs a SESSION_SECRET of at least ${MIN_SECRET_CHARS} characters (openssl rand -base64 48)`);
  }
  const devtools = (env.DEVTOOLS === '1' || env.DEVTOOLS === 'true') && env.NODE_ENV !== 'production';
  return {
    port: portOf(env.PORT),
    host: env.HOST || (devtools ? '127.0.0.1' : undefined),
    redisUrl: env.REDIS_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    sqlitePath: env.SQLITE_PATH ?? ':memory:',
    sessionSecret: env.SESSION_SECRET ?? 'shop-dev-secret-change-me',
    production,
    demoUsers: !production || env.DEMO_USERS === '1' || env.DEMO_USERS === 'true',
    trustProxy: env.TRUST_PROXY === '1' || env.TRUST_PROXY === 'true',
    frontendOrigins: listOf(env.FRONTEND_ORIGINS),
    uploadDir: env.UPLOAD_DIR || 'data/uploads',
    devtools,
    profile: profileOf(env.PROFILE),
    devServerUrl: env.VITE_DEV_URL || 'http://localhost:5173',
    workers: workersOf(env.WORKERS),
  };
}

/** PORT: unset or empty is 3000; otherwise decimal digits within 0–65535 (Number() read `''` as 0: a random port). */
function portOf(value: string | undefined): number {
  if (!value) return 3000;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65_535)) throw new Error(`PORT must be a port number, 0 to 65535 (got "${value}")`);
  return port;
}

/** WORKERS: unset or empty is 1; otherwise a whole number within 1–{@link MAX_WORKERS} (Number() read `four` as NaN: one). */
function workersOf(value: string | undefined): number {
  if (!value) return 1;
  const workers = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(workers >= 1 && workers <= MAX_WORKERS)) throw new Error(`WORKERS must be a number of processes, 1 to ${MAX_WORKERS} (got "${value}")`);
  return workers;
}

function profileOf(value: string | undefined): ShopConfig['profile'] {
  if (!value) return 'integrated';
  if (!PROFILES.has(value)) throw new Error(`PROFILE must be one of ${[...PROFILES].join(', ')} (got "${value}")`);
  return value as ShopConfig['profile'];
}

/** `a, b,c` → `['a', 'b', 'c']`; unset or blank → undefined. */
function listOf(value: string | undefined): string[] | undefined {
  const items = (value ?? '').split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  return items.length > 0 ? items : undefined;
}

import { isAbsolute } from 'node:path';
import { InvalidOptionError } from '../invalid-option.error.js';
import { MAX_TIMER_MS } from '../common/timer-ms.js';

/** The `spa` section of the module options: a built single-page app the module serves (on `@nestjs/serve-static`). */
export interface SpaOptions {
  /**
   * The SPA's build directory (absolute path), holding `index.html` and the bundler's output (e.g. `web/dist`).
   * Required.
   */
  rootPath: string;
  /**
   * The URL the SPA lives under: `/` for the whole site, or a path such as `/app` (no segment starting with a dot).
   * @default '/'
   */
  base?: string;
  /**
   * Where the bundler's content-hashed files are, under `base`: they never change, so they are cached for a year
   * (`public, max-age=31536000, immutable`). No segment of it may start with a dot (dotfiles are never served). The
   * deep-link fallback never answers in it: a path there that no file answers is a 404.
   * @default '/assets/'
   */
  assetsPrefix?: string;
  /**
   * Deep-link fallback: a `GET`/`HEAD` that no route and no file answers gets `index.html`, so the SPA's router can
   * render `/cart` or `/product/3` after a reload. Never for the module's own routes, the paths in `exclude`, a path
   * whose last segment has a file extension (trailing slashes aside: a missing asset is a 404), `assetsPrefix`, or a
   * request that asks for JSON only.
   * @default true
   */
  fallback?: boolean;
  /**
   * More paths the fallback leaves alone (answered by the app's own routes or a 404), added to the module's own:
   * a string is a path prefix in any letter case, as Express routes (`'/api'` covers `/api`, `/api/...` and
   * `/API/...`), a RegExp is tested against the pathname with its own flags.
   * @default []
   */
  exclude?: Array<string | RegExp>;
  /**
   * `max-age` (seconds) of files outside `assetsPrefix` other than `index.html` (favicon, robots.txt, ...): their
   * names carry no hash, so a deploy may change them; `index.html` is always `no-cache`.
   * @default 300
   */
  maxAgeSeconds?: number;
  /**
   * How long (milliseconds) a file's or page's answer may go without its client taking a byte of it while output
   * waits; then its connection is cut and the file closed. A client that reads, however slowly, is never cut; one
   * that asked for a large file and read nothing kept the file open, and its connection, for as long as it stayed.
   * @default 30000
   */
  idleTimeoutMs?: number;
}

/** The `devServer` section of the module options: the frontend's dev server, for `profile: 'split_dev'`. */
export interface DevServerOptions {
  /** The dev server's URL, e.g. `http://localhost:5173` (Vite's default). Required with `split_dev`. */
  url: string;
  /**
   * More paths never proxied, added to the module's own (a string is a path prefix in any letter case, a RegExp is
   * tested against the pathname with its own flags), e.g. app routes registered on the HTTP adapter after the module.
   * @default []
   */
  exclude?: Array<string | RegExp>;
  /**
   * Host names (as in the `Host` header, without port) the proxy answers besides IP addresses, `localhost` and
   * `*.localhost`; a leading dot also allows subdomains (`'.dev.example'`). A request for the dev server addressed
   * to any other name gets 403 `host_not_allowed`: the proxy sends the dev server its own `Host`, so the dev server's
   * own check (Vite's `server.allowedHosts`) cannot see a site the developer visits that points its name at this
   * machine (DNS rebinding) to read the app's sources. Add the name you open the app under when it is not one of
   * those.
   * @default []
   */
  allowedHosts?: string[];
}

/**
 * Which pillars the module turns on, as reflex-django's `profile`:
 * - `integrated`: the app's request pipeline runs around events per tier; the SPA is served if `spa` is given;
 * - `split_dev`: development with the frontend on its dev server: every page, module and asset request (and its HMR
 *   WebSocket) that no route answers is proxied to `devServer.url`;
 * - `reflex_only`: events run without the app's pipeline (every event on tier `none`); the SPA is served if `spa`
 *   is given.
 */
export type ReflexProfile = 'integrated' | 'split_dev' | 'reflex_only';

/** `spa` after defaults. */
export interface ResolvedSpaOptions {
  rootPath: string;
  base: string;
  assetsPrefix: string;
  fallback: boolean;
  exclude: RegExp[];
  maxAgeSeconds: number;
  idleTimeoutMs: number;
}

/** `devServer` after defaults. */
export interface ResolvedDevServerOptions {
  url: string;
  exclude: RegExp[];
  /** Lower-cased. */
  allowedHosts: string[];
}

/** The serving part of the options after the profile was applied. */
export interface ResolvedServingOptions {
  profile: ReflexProfile;
  spa: ResolvedSpaOptions | undefined;
  devServer: ResolvedDevServerOptions | undefined;
}

/** The defaults of {@link SpaOptions}. */
export const SPA_DEFAULTS = Object.freeze({ base: '/', assetsPrefix: '/assets/', fallback: true, maxAgeSeconds: 300, idleTimeoutMs: 30_000 });

const PROFILES: readonly ReflexProfile[] = ['integrated', 'split_dev', 'reflex_only'];

/** What the serving options are checked against: settings of other sections a profile may conflict with. */
export interface ServingContext {
  production: boolean;
  /** `bridge.mode` as the app set it (undefined when left to the default). */
  bridgeMode: string | undefined;
  /** True when the app set `bridge.resolver`. */
  bridgeResolver: boolean;
}

function rejectUnknownKeys(section: string, value: object, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new InvalidOptionError(`${section}.${key}`, 'unknown option');
  }
}

/**
 * A string path prefix (`/api` → `/api`, `/api/...`, in any letter case) or a RegExp (as given), as one RegExp tested
 * against a pathname.
 */
export function pathRule(field: string, rule: unknown): RegExp {
  if (rule instanceof RegExp) return rule;
  if (typeof rule !== 'string' || !rule.startsWith('/') || /[\s?#]/.test(rule)) {
    throw new InvalidOptionError(field, `expected a path prefix such as "/api" or a RegExp, got ${JSON.stringify(rule)}`);
  }
  const prefix = rule.length > 1 && rule.endsWith('/') ? rule.slice(0, -1) : rule;
  if (prefix === '/') return /^\//;
  // Case-insensitive, as Express routes: `/API/x` reaches the app's `/api` routes, so it is theirs to answer too.
  return new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/|$)`, 'i');
}

function pathRules(field: string, value: unknown): RegExp[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionError(field, 'expected an array of path prefixes or RegExps');
  return value.map((rule, index) => pathRule(`${field}[${index}]`, rule));
}

function resolveSpa(spa: unknown): ResolvedSpaOptions | undefined {
  if (spa === undefined || spa === false) return undefined;
  if (spa === null || typeof spa !== 'object' || Array.isArray(spa)) throw new InvalidOptionError('spa', 'expected false or an object with rootPath');
  const given = spa as SpaOptions;
  rejectUnknownKeys('spa', given, ['rootPath', 'base', 'assetsPrefix', 'fallback', 'exclude', 'maxAgeSeconds', 'idleTimeoutMs']);
  if (typeof given.rootPath !== 'string' || !isAbsolute(given.rootPath)) {
    throw new InvalidOptionError('spa.rootPath', `expected the absolute path of the SPA's build directory, got ${JSON.stringify(given.rootPath)}`);
  }
  const base = given.base ?? SPA_DEFAULTS.base;
  if (typeof base !== 'string' || !/^\/([\w\-.~]+(\/[\w\-.~]+)*)?$/.test(base)) {
    throw new InvalidOptionError('spa.base', `expected "/" or a path such as "/app" (no trailing slash), got ${JSON.stringify(base)}`);
  }
  const assetsPrefix = given.assetsPrefix ?? SPA_DEFAULTS.assetsPrefix;
  if (typeof assetsPrefix !== 'string' || !/^\/([\w\-.~]+\/)+$/.test(assetsPrefix)) {
    throw new InvalidOptionError('spa.assetsPrefix', `expected a folder path such as "/assets/", got ${JSON.stringify(assetsPrefix)}`);
  }
  // serve-static ignores dotfiles and the fallback never answers a path with a dot segment (`/.git/config`): under a
  // base such as `/.app` every deep link was a 404, in an assets folder such as `/.vite/` every bundle.
  for (const [field, path] of [['spa.base', base], ['spa.assetsPrefix', assetsPrefix]] as const) {
    if (path.split('/').some((segment) => segment.startsWith('.'))) {
      throw new InvalidOptionError(field, `${JSON.stringify(path)} has a segment that starts with a dot, which the SPA never serves (dotfiles are refused): rename it`);
    }
  }
  const fallback = given.fallback ?? SPA_DEFAULTS.fallback;
  if (typeof fallback !== 'boolean') throw new InvalidOptionError('spa.fallback', 'expected a boolean');
  const maxAgeSeconds = given.maxAgeSeconds ?? SPA_DEFAULTS.maxAgeSeconds;
  if (typeof maxAgeSeconds !== 'number' || !Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw new InvalidOptionError('spa.maxAgeSeconds', `expected a whole number of seconds (0 or more), got ${JSON.stringify(maxAgeSeconds)}`);
  }
  const idleTimeoutMs = given.idleTimeoutMs ?? SPA_DEFAULTS.idleTimeoutMs;
  if (typeof idleTimeoutMs !== 'number' || !Number.isSafeInteger(idleTimeoutMs) || idleTimeoutMs < 1 || idleTimeoutMs > MAX_TIMER_MS) {
    throw new InvalidOptionError('spa.idleTimeoutMs', `expected a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${JSON.stringify(idleTimeoutMs)}`);
  }
  return { rootPath: given.rootPath, base, assetsPrefix, fallback, exclude: pathRules('spa.exclude', given.exclude), maxAgeSeconds, idleTimeoutMs };
}

function resolveDevServer(devServer: unknown): ResolvedDevServerOptions | undefined {
  if (devServer === undefined) return undefined;
  if (devServer === null || typeof devServer !== 'object' || Array.isArray(devServer)) throw new InvalidOptionError('devServer', 'expected an object with url');
  const given = devServer as DevServerOptions;
  rejectUnknownKeys('devServer', given, ['url', 'exclude', 'allowedHosts']);
  let url: URL | undefined;
  try {
    url = typeof given.url === 'string' ? new URL(given.url) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidOptionError('devServer.url', `expected the dev server's URL such as "http://localhost:5173", got ${JSON.stringify(given.url)}`);
  }
  const allowedHosts = given.allowedHosts ?? [];
  if (!Array.isArray(allowedHosts) || !allowedHosts.every((host) => typeof host === 'string' && /^\.?[A-Za-z0-9.-]+$/.test(host))) {
    throw new InvalidOptionError('devServer.allowedHosts', `expected an array of host names such as "dev.example" or ".dev.example", got ${JSON.stringify(allowedHosts)}`);
  }
  return { url: url.origin, exclude: pathRules('devServer.exclude', given.exclude), allowedHosts: allowedHosts.map((host) => host.toLowerCase()) };
}

/**
 * Applies `profile` to `spa` and `devServer` and refuses combinations that cannot both hold, naming the conflict.
 * Explicit settings win where the profile only presets a default (`spa` left out or `false` turns serving off in any
 * profile; `bridge.mode: 'none'` is fine everywhere); a setting that contradicts what the profile is for is refused
 * rather than silently dropped.
 */
export function resolveServingOptions(profile: unknown, spa: unknown, devServer: unknown, context: ServingContext): ResolvedServingOptions {
  const chosen = profile ?? 'integrated';
  if (!PROFILES.includes(chosen as ReflexProfile)) {
    throw new InvalidOptionError('profile', `expected "integrated", "split_dev" or "reflex_only", got ${JSON.stringify(profile)}`);
  }
  const resolvedSpa = resolveSpa(spa);
  const resolvedDevServer = resolveDevServer(devServer);
  if (chosen === 'split_dev') {
    if (context.production) {
      throw new InvalidOptionError('profile', '"split_dev" proxies the frontend to a development server and is refused with production: true (use "integrated" with spa)');
    }
    if (!resolvedDevServer) throw new InvalidOptionError('devServer.url', 'profile "split_dev" needs the dev server\'s URL, e.g. devServer: { url: "http://localhost:5173" }');
    if (resolvedSpa) {
      throw new InvalidOptionError('spa', 'profile "split_dev" serves the frontend from devServer.url, and spa would serve the built one too: leave spa out (or false) in split_dev');
    }
  } else if (resolvedDevServer) {
    throw new InvalidOptionError('devServer', `is used by profile "split_dev" only, and the profile is "${chosen}": remove devServer or set profile: "split_dev"`);
  }
  if (chosen === 'reflex_only') {
    if (context.bridgeMode !== undefined && context.bridgeMode !== 'none') {
      throw new InvalidOptionError('bridge.mode', `profile "reflex_only" runs every event without the app's pipeline (tier none), and bridge.mode "${context.bridgeMode}" asks for it: use profile "integrated", or leave bridge.mode out`);
    }
    if (context.bridgeResolver) {
      throw new InvalidOptionError('bridge.resolver', 'profile "reflex_only" runs every event on tier none, so a tier resolver would never be asked: use profile "integrated", or remove bridge.resolver');
    }
  }
  return { profile: chosen as ReflexProfile, spa: resolvedSpa, devServer: resolvedDevServer };
}

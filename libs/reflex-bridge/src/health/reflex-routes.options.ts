import { InvalidOptionError } from '../invalid-option.error.js';
import { assertTimerMs } from '../common/timer-ms.js';

/**
 * The HTTP routes a Reflex frontend's `env.json` points at besides the socket: `GET /ping` and `GET /_health`.
 * Both sit under the module's path prefix: what the event `path` has before `/_event` (`/api/_event` serves
 * `/api/ping` and `/api/_health`, as Reflex's `backend_path` does).
 */
export interface ReflexRoutesOptions {
  /**
   * Path of `GET` answering the JSON string `"pong"`, or `false` to not serve it.
   * @default '<prefix>/ping'
   */
  ping?: string | false;
  /**
   * Path of `GET` answering Reflex's health shape `{"status": bool, "db"?: bool, "redis"?: bool}` (200, or 503
   * when a check fails), or `false` to not serve it.
   * @default '<prefix>/_health'
   */
  health?: string | false;
  /**
   * Milliseconds each health check (state store, live transport, database) may take before it counts as down.
   * @default 2000
   */
  checkTimeoutMs?: number;
  /**
   * Milliseconds a run's answer is reused for the requests that follow it (requests that arrive during a run share
   * it anyway): at most one run of the checks, one query to each store, per interval, however often the public route
   * is requested. `0`: every request after an answer runs the checks again.
   * @default 1000
   */
  checkIntervalMs?: number;
}

/** The routes after defaults: a path, or undefined when the route is off. */
export interface ResolvedReflexRoutesOptions {
  ping: string | undefined;
  health: string | undefined;
  checkTimeoutMs: number;
  checkIntervalMs: number;
}

/** The prefix the event path has before its last `/_event` segment (`/api/_event` → `/api`), else `''`. */
export function pathPrefixOf(eventPath: string): string {
  return eventPath.endsWith('/_event') ? eventPath.slice(0, -'/_event'.length) : '';
}

function routePath(name: string, value: unknown, fallback: string): string | undefined {
  if (value === false) return undefined;
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\/[\w\-/]*$/.test(value) || value.endsWith('/')) {
    throw new InvalidOptionError(name, `expected a path such as "/ping", or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Resolves `reflexRoutes` against the event path (its prefix, and the paths Engine.IO owns). */
export function resolveReflexRoutesOptions(value: unknown, eventPath: string): ResolvedReflexRoutesOptions {
  if (value === false) return { ping: undefined, health: undefined, checkTimeoutMs: 2000, checkIntervalMs: 1000 };
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidOptionError('reflexRoutes', 'expected false or an object { ping?, health?, checkTimeoutMs?, checkIntervalMs? }');
  }
  const given = (value ?? {}) as ReflexRoutesOptions;
  for (const key of Object.keys(given)) {
    if (!['ping', 'health', 'checkTimeoutMs', 'checkIntervalMs'].includes(key)) throw new InvalidOptionError(`reflexRoutes.${key}`, 'unknown option');
  }
  const prefix = pathPrefixOf(eventPath);
  const ping = routePath('reflexRoutes.ping', given.ping, `${prefix}/ping`);
  const health = routePath('reflexRoutes.health', given.health, `${prefix}/_health`);
  for (const [name, path] of [['reflexRoutes.ping', ping], ['reflexRoutes.health', health]] as const) {
    if (path !== undefined && (path === eventPath || path.startsWith(`${eventPath}/`))) {
      throw new InvalidOptionError(name, `must lie outside the event path "${eventPath}"`);
    }
  }
  if (ping !== undefined && ping === health) throw new InvalidOptionError('reflexRoutes.health', 'must differ from reflexRoutes.ping');
  const timeout = given.checkTimeoutMs ?? 2000;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidOptionError('reflexRoutes.checkTimeoutMs', `expected a positive number, got ${JSON.stringify(timeout)}`);
  }
  assertTimerMs('reflexRoutes.checkTimeoutMs', timeout);
  const interval = given.checkIntervalMs ?? 1000;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
    throw new InvalidOptionError('reflexRoutes.checkIntervalMs', `expected a number >= 0, got ${JSON.stringify(interval)}`);
  }
  assertTimerMs('reflexRoutes.checkIntervalMs', interval);
  return { ping, health, checkTimeoutMs: timeout, checkIntervalMs: interval };
}

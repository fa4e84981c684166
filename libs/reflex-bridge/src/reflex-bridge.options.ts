import type { StateStore } from './state/store/state-store.js';
import type { BridgeOptions, MirrorOptions } from './bridge/bridge.options.js';
import type { EventCacheOptions, FastAuthOptions } from './cache/event-cache.options.js';
import type { MetricsOptions } from './metrics/metrics.options.js';
import { InvalidOptionError } from './invalid-option.error.js';
import { resolveLiveOptions, type LiveOptions, type ResolvedLiveOptions } from './live/live.options.js';

/**
 * Options of {@link ReflexBridgeModule}. Every field is optional; {@link resolveOptions} merges the defaults
 * in one place and fails at startup with a message naming the field when a value is invalid.
 */
export interface ReflexBridgeModuleOptions {
  /**
   * Engine.IO path and Socket.IO namespace of the event channel. Reflex clients use `/_event` for both.
   * @default '/_event'
   */
  path?: string;
  /**
   * Largest inbound frame in bytes. A larger frame is answered with a `payload_too_large` error and dropped;
   * one over twice this size closes that connection (the transport refuses to buffer it).
   * @default 1_000_000
   */
  maxMessageBytes?: number;
  /**
   * Events of one client (one token) that may wait behind the one being handled. An event arriving over
   * the limit is answered with a `busy` error and dropped (never queued), and while the queue is full the
   * server stops reading that client's socket, so a flooding client cannot hold memory or starve others.
   * A browser tab has one or two events waiting at most; this is for clients that send far faster than
   * they are answered. Server follow-up events are never refused.
   * @default 100
   */
  maxQueuedEvents?: number;
  /**
   * Total size in bytes (characters of the frames as received) of the events waiting for one client, as
   * for `maxQueuedEvents`. A queue holding no event takes any one event up to `maxMessageBytes`.
   * @default 4_000_000
   */
  maxQueuedBytes?: number;
  /**
   * Seconds a client token's state is kept after its last use.
   * @default 3600
   */
  stateTtlSeconds?: number;
  /**
   * Production mode: errors sent to clients say only what kind of error happened, never the exception's
   * message. Stack traces are never sent, in any mode.
   * @default false
   */
  production?: boolean;
  /**
   * Origins allowed to open the event socket. A list is enforced on the WebSocket handshake too (a
   * browser connection whose `Origin` is not listed is refused); `true` allows any origin.
   * @default undefined (no CORS headers; any origin may connect, so rely on SameSite session cookies)
   */
  corsOrigins?: string[] | boolean;
  /**
   * Engine.IO heartbeat interval in milliseconds (Reflex: 25 s).
   * @default 25_000
   */
  pingIntervalMs?: number;
  /**
   * Milliseconds without a heartbeat answer before a connection is dropped (Reflex: 120 s).
   * @default 120_000
   */
  pingTimeoutMs?: number;
  /**
   * HTTP path (POST `<path>/<token>`) where the client fetches a session cookie changed by an event (login,
   * logout), so the cookie can stay HttpOnly. Outside the event `path`, which Engine.IO owns.
   * @default '/_bridge/session-cookie'
   */
  cookieHandoffPath?: string;
  /**
   * One Redis for everything several workers must share: when set, and unless overridden by the option
   * of each, client states live in a `RedisStateStore`, the event cache in Redis, and live updates
   * fan out through a `RedisTransport`.
   * @default undefined (everything in this process)
   */
  redisUrl?: string;
  /** Live updates: how `LiveBroadcaster` fans model changes out. See {@link LiveOptions}. */
  live?: LiveOptions;
  /**
   * Where client states live. An instance of a {@link StateStore} implementation.
   * @default a `RedisStateStore` when `redisUrl` is set, else an in-memory store (one process)
   */
  stateStore?: StateStore;
  /** The bridge: which part of the app's request pipeline runs around each event. See {@link BridgeOptions}. */
  bridge?: BridgeOptions;
  /**
   * The event cache of auth snapshots (per session), read by fast auth. See {@link EventCacheOptions}.
   * @default in memory, TTL 60 s
   */
  eventCache?: EventCacheOptions;
  /**
   * Fast auth: on `auth_only` events whose session has a fresh snapshot in the event cache, skip the session
   * and auth middleware, load the user by id, and give handlers a lazy session. Opt-in: it trades
   * middleware calls for a staleness window of at most the cache TTL. See {@link FastAuthOptions}.
   * @default false
   */
  fastAuth?: false | FastAuthOptions;
  /**
   * Bridge timing: `true` logs one debug line per phase through the `ReflexBridgeMetrics` logger; an object
   * names the logger and/or adds prom-client metrics. See {@link MetricsOptions}.
   * @default false
   */
  metrics?: boolean | MetricsOptions;
  /**
   * `'lean'` turns off, only where you left them unset, `bridge.authAutoSync` and the `bridge.mirrors`
   * (smaller deltas, less per-event work). Values you set explicitly are kept.
   * @default 'default'
   */
  preset?: 'default' | 'lean';
  /**
   * Make the module's exported providers available everywhere without importing the module again.
   * @default true
   */
  isGlobal?: boolean;
}

/** The options after defaults were merged and values checked: what the rest of the library reads. */
export interface ResolvedReflexBridgeOptions {
  path: string;
  maxMessageBytes: number;
  maxQueuedEvents: number;
  maxQueuedBytes: number;
  stateTtlSeconds: number;
  production: boolean;
  corsOrigins: string[] | boolean | undefined;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  stateStore: StateStore | undefined;
  cookieHandoffPath: string;
  bridge: Required<Pick<BridgeOptions, 'mode' | 'authAutoSync' | 'redirectStatuses' | 'sessionEndAction' | 'asyncContext'>> & BridgeOptions & { mirrors: Required<MirrorOptions> };
  eventCache: Required<Omit<EventCacheOptions, 'store' | 'redisUrl'>> & Pick<EventCacheOptions, 'store' | 'redisUrl'>;
  fastAuth: (FastAuthOptions & { sessionSecrets: string[]; sessionCookieName: string }) | undefined;
  metrics: (Required<Omit<MetricsOptions, 'registry'>> & Pick<MetricsOptions, 'registry'>) | undefined;
  preset: 'default' | 'lean';
  redisUrl: string | undefined;
  live: ResolvedLiveOptions;
}

/** The defaults, in one place. */
export const DEFAULT_OPTIONS = {
  path: '/_event',
  maxMessageBytes: 1_000_000,
  maxQueuedEvents: 100,
  maxQueuedBytes: 4_000_000,
  stateTtlSeconds: 3600,
  production: false,
  pingIntervalMs: 25_000,
  pingTimeoutMs: 120_000,
  cookieHandoffPath: '/_bridge/session-cookie',
  bridge: { mode: 'full', authAutoSync: true, sessionEndAction: 'reauthenticate', asyncContext: false, redirectStatuses: [301, 302, 303, 307, 308], mirrors: { flash: true, csrf: true, language: true } },
  eventCache: { ttlSeconds: 60, keyPrefix: 'rx:event:', operationTimeoutMs: 250 },
  metrics: { logger: 'ReflexBridgeMetrics', log: true },
} as const;


function positiveNumber(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveInteger(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function rejectUnknownKeys(section: string, value: object, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new InvalidOptionError(`${section}.${key}`, 'unknown option');
  }
}

function httpPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^\/[\w\-/]*$/.test(value) || value.endsWith('/')) {
    throw new InvalidOptionError(name, `expected a path such as "/_event", got ${JSON.stringify(value)}`);
  }
  return value;
}

const KNOWN_OPTIONS = new Set([
  'path', 'maxMessageBytes', 'maxQueuedEvents', 'maxQueuedBytes', 'stateTtlSeconds', 'production', 'corsOrigins', 'pingIntervalMs', 'pingTimeoutMs',
  'stateStore', 'bridge', 'isGlobal', 'cookieHandoffPath', 'eventCache', 'fastAuth', 'metrics', 'preset', 'redisUrl', 'live',
]);
const BRIDGE_MODES = new Set(['full', 'smart', 'none']);

/** Merges the defaults into `options` and validates every field. */
export function resolveOptions(options: ReflexBridgeModuleOptions = {}): ResolvedReflexBridgeOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidOptionError(key, 'unknown option');
  }
  const path = httpPath('path', options.path ?? DEFAULT_OPTIONS.path);
  const cookieHandoffPath = httpPath('cookieHandoffPath', options.cookieHandoffPath ?? DEFAULT_OPTIONS.cookieHandoffPath);
  if (cookieHandoffPath === path || cookieHandoffPath.startsWith(`${path}/`)) {
    throw new InvalidOptionError('cookieHandoffPath', `must lie outside the event path "${path}"`);
  }
  if (options.production !== undefined && typeof options.production !== 'boolean') {
    throw new InvalidOptionError('production', 'expected a boolean');
  }
  const bridge = options.bridge ?? {};
  rejectUnknownKeys('bridge', bridge, ['mode', 'resolver', 'authMiddleware', 'fullMiddleware', 'mirrors', 'authAutoSync', 'redirectStatuses', 'trustProxy', 'sessionEndAction', 'usernameOf', 'asyncContext']);
  rejectUnknownKeys('bridge.mirrors', bridge.mirrors ?? {}, ['flash', 'csrf', 'language']);
  rejectUnknownKeys('eventCache', options.eventCache ?? {}, ['ttlSeconds', 'keyPrefix', 'redisUrl', 'store', 'operationTimeoutMs']);
  if (options.fastAuth) rejectUnknownKeys('fastAuth', options.fastAuth, ['sessionSecret', 'sessionCookieName', 'loadUser', 'userIdOf']);
  if (typeof options.metrics === 'object') rejectUnknownKeys('metrics', options.metrics, ['logger', 'log', 'registry']);
  const mode = bridge.mode ?? DEFAULT_OPTIONS.bridge.mode;
  if (!BRIDGE_MODES.has(mode)) {
    throw new InvalidOptionError('bridge.mode', `expected "full", "smart" or "none", got ${JSON.stringify(mode)}`);
  }
  if (bridge.sessionEndAction !== undefined && bridge.sessionEndAction !== 'reauthenticate' && bridge.sessionEndAction !== 'disconnect') {
    throw new InvalidOptionError('bridge.sessionEndAction', `expected "reauthenticate" or "disconnect", got ${JSON.stringify(bridge.sessionEndAction)}`);
  }
  if (bridge.resolver !== undefined && typeof bridge.resolver !== 'function') {
    throw new InvalidOptionError('bridge.resolver', 'expected a function or an injectable class');
  }
  for (const key of ['authMiddleware', 'fullMiddleware'] as const) {
    const list = bridge[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((fn) => typeof fn !== 'function'))) {
      throw new InvalidOptionError(`bridge.${key}`, 'expected an array of Express middleware functions');
    }
  }
  if (options.stateStore !== undefined && typeof (options.stateStore as StateStore).acquire !== 'function') {
    throw new InvalidOptionError('stateStore', 'expected a StateStore instance');
  }
  const preset = options.preset ?? 'default';
  if (preset !== 'default' && preset !== 'lean') {
    throw new InvalidOptionError('preset', `expected "default" or "lean", got ${JSON.stringify(preset)}`);
  }
  // The lean preset changes only what the app left unset.
  const lean = preset === 'lean';
  const mirrors = bridge.mirrors ?? {};
  const eventCache = options.eventCache ?? {};
  const ttlSeconds = eventCache.ttlSeconds ?? DEFAULT_OPTIONS.eventCache.ttlSeconds;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds < 0) {
    throw new InvalidOptionError('eventCache.ttlSeconds', `expected a number of seconds ≥ 0, got ${JSON.stringify(ttlSeconds)}`);
  }
  if (options.redisUrl !== undefined && (typeof options.redisUrl !== 'string' || !/^rediss?:\/\//.test(options.redisUrl))) {
    throw new InvalidOptionError('redisUrl', 'expected a URL such as redis://localhost:6379');
  }
  return {
    preset,
    redisUrl: options.redisUrl,
    live: resolveLiveOptions(options.live),
    eventCache: {
      ttlSeconds,
      keyPrefix: eventCache.keyPrefix ?? DEFAULT_OPTIONS.eventCache.keyPrefix,
      operationTimeoutMs: positiveNumber('eventCache.operationTimeoutMs', eventCache.operationTimeoutMs) ?? DEFAULT_OPTIONS.eventCache.operationTimeoutMs,
      store: eventCache.store,
      redisUrl: eventCache.redisUrl ?? options.redisUrl,
    },
    fastAuth: resolveFastAuth(options.fastAuth),
    metrics: resolveMetrics(options.metrics),
    path,
    maxMessageBytes: positiveNumber('maxMessageBytes', options.maxMessageBytes) ?? DEFAULT_OPTIONS.maxMessageBytes,
    maxQueuedEvents: positiveInteger('maxQueuedEvents', options.maxQueuedEvents) ?? DEFAULT_OPTIONS.maxQueuedEvents,
    maxQueuedBytes: positiveInteger('maxQueuedBytes', options.maxQueuedBytes) ?? DEFAULT_OPTIONS.maxQueuedBytes,
    stateTtlSeconds: positiveNumber('stateTtlSeconds', options.stateTtlSeconds) ?? DEFAULT_OPTIONS.stateTtlSeconds,
    production: options.production ?? DEFAULT_OPTIONS.production,
    corsOrigins: options.corsOrigins,
    pingIntervalMs: positiveNumber('pingIntervalMs', options.pingIntervalMs) ?? DEFAULT_OPTIONS.pingIntervalMs,
    pingTimeoutMs: positiveNumber('pingTimeoutMs', options.pingTimeoutMs) ?? DEFAULT_OPTIONS.pingTimeoutMs,
    stateStore: options.stateStore,
    cookieHandoffPath,
    bridge: {
      ...bridge,
      mode,
      authAutoSync: bridge.authAutoSync ?? (lean ? false : DEFAULT_OPTIONS.bridge.authAutoSync),
      mirrors: {
        flash: mirrors.flash ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.flash),
        csrf: mirrors.csrf ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.csrf),
        language: mirrors.language ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.language),
      },
      redirectStatuses: bridge.redirectStatuses ?? [...DEFAULT_OPTIONS.bridge.redirectStatuses],
      sessionEndAction: bridge.sessionEndAction ?? DEFAULT_OPTIONS.bridge.sessionEndAction,
      asyncContext: bridge.asyncContext ?? DEFAULT_OPTIONS.bridge.asyncContext,
    },
  };
}

function resolveFastAuth(fastAuth: ReflexBridgeModuleOptions['fastAuth']): ResolvedReflexBridgeOptions['fastAuth'] {
  if (fastAuth === undefined || fastAuth === false) return undefined;
  if (typeof fastAuth !== 'object') throw new InvalidOptionError('fastAuth', 'expected false or an object with sessionSecret and loadUser');
  const secrets = Array.isArray(fastAuth.sessionSecret) ? fastAuth.sessionSecret : [fastAuth.sessionSecret];
  if (secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || secret.length === 0)) {
    throw new InvalidOptionError('fastAuth.sessionSecret', 'expected the session middleware\'s secret (a non-empty string or array of strings)');
  }
  if (typeof fastAuth.loadUser !== 'function') throw new InvalidOptionError('fastAuth.loadUser', 'expected a function (id) => user');
  return { ...fastAuth, sessionSecrets: secrets, sessionCookieName: fastAuth.sessionCookieName ?? 'connect.sid' };
}

function resolveMetrics(metrics: ReflexBridgeModuleOptions['metrics']): ResolvedReflexBridgeOptions['metrics'] {
  if (metrics === undefined || metrics === false) return undefined;
  const given = metrics === true ? {} : metrics;
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('metrics', 'expected a boolean or an object');
  if (given.registry !== undefined && typeof given.registry.registerMetric !== 'function') {
    throw new InvalidOptionError('metrics.registry', 'expected a prom-client Registry');
  }
  return { logger: given.logger ?? DEFAULT_OPTIONS.metrics.logger, log: given.log ?? DEFAULT_OPTIONS.metrics.log, registry: given.registry };
}

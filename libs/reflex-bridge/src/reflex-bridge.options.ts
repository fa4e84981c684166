import type { Type } from '@nestjs/common';
import type { StateStore } from './state/store/state-store.js';
import type { BridgeErrorPresenter } from './pipeline/bridge-error.presenter.js';
import type { RouterVarsOption } from './protocol/router-vars-shape.js';
import type { BridgeOptions, MirrorOptions } from './bridge/bridge.options.js';
import { EVENT_CACHE_DEFAULTS, resolveEventCacheOptions, type EventCacheOptions, type FastAuthOptions, type ResolvedEventCacheOptions } from './cache/event-cache.options.js';
import type { MetricsOptions } from './metrics/metrics.options.js';
import { DEVTOOLS_DEFAULTS, type DevtoolsOptions, MAX_DEVTOOLS_EVENTS, MAX_DEVTOOLS_STREAMS, type ResolvedDevtoolsOptions } from './devtools/devtools.options.js';
import { refuseRouteCollisions, type ModuleRoute } from './common/module-routes.js';
import { InvalidOptionError } from './invalid-option.error.js';
import { assertRedisUrl } from './common/redis-url.js';
import { assertTimerMs } from './common/timer-ms.js';
import { resolveLiveOptions, type LiveOptions, type ResolvedLiveOptions } from './live/live.options.js';
import { resolveRateLimitOptions, type RateLimitOptions, type ResolvedRateLimitOptions } from './security/rate-limit.options.js';
import { resolveSessionStoreOptions, type ResolvedSessionStoreOptions, type SessionStoreOptions } from './security/session-store.options.js';
import { pathPrefixOf, resolveReflexRoutesOptions, type ReflexRoutesOptions, type ResolvedReflexRoutesOptions } from './health/reflex-routes.options.js';
import { resolveUploadOptions, type ResolvedUploadOptions, type UploadOptions } from './upload/upload.options.js';
import { resolveAuditMode, resolveWorkers, type AuditMode } from './audit/audit.options.js';
import { resolveRedisClusterOptions, type RedisClusterOptions, type ResolvedRedisClusterOptions } from './common/redis-cluster.options.js';
import { resolveServingOptions, type DevServerOptions, type ReflexProfile, type ResolvedDevServerOptions, type ResolvedSpaOptions, type SpaOptions } from './spa/spa.options.js';

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
   * Largest amount of output, in bytes, the server holds for one connection that is not reading it. A client
   * that stops reading while it keeps sending events would otherwise make the server buffer without bound; past
   * this the connection is closed (the client reconnects and hydrates as usual). A buffered upload's NDJSON answer
   * is bounded the same way: past it the upload is cancelled and its connection closed.
   * @default 16_000_000
   */
  maxOutboundBytes?: number;
  /**
   * Largest amount of output, in bytes (counted as for `maxOutboundBytes`), one worker holds for all the connections
   * that have not read theirs. Past it, the connections holding the most are closed, largest first, until the worker
   * is within it again; only connections already not read for their own backlog (past a sixteenth of
   * `maxOutboundBytes`) are closed, never one that reads its socket. Bounds what many connections that never read
   * cost together, where `maxOutboundBytes` bounds each one.
   * @default 256_000_000
   */
  maxTotalOutboundBytes?: number;
  /**
   * Largest amount of inbound WebSocket messages, in bytes, one worker holds for all the connections that began one
   * and have not finished it (the transport holds a message's bytes until its last one arrives, up to twice
   * `maxMessageBytes` per connection). Past it, the connection holding the most is cut, until the worker is within
   * it again. Bounds what many connections that send all but the last byte of a message cost together. The same
   * amount bounds, apart, the Socket.IO binary packets begun and not finished (a packet whose attachments have not
   * all come): the connection whose packet would pass it is closed.
   * @default 64_000_000
   */
  maxTotalUnfinishedInboundBytes?: number;
  /**
   * Milliseconds within which an inbound WebSocket message, once begun, must end; past them the connection is cut
   * (time the server itself does not read the connection, paused for its queue or its rate, does not count).
   * Without it a client that stopped mid-message held its bytes until the heartbeat gave up.
   * @default 30_000
   */
  unfinishedMessageTimeoutMs?: number;
  /**
   * Connections one client address may hold open to the event server on this worker at a time (the address as the
   * rate limits key it: the peer address, or with `bridge.trustProxy` the last `X-Forwarded-For` entry; IPv6 grouped
   * by `rateLimit.ipv6SubnetPrefix`). One more is refused before its handshake, origin check or session middleware
   * run: `429 {"detail","code":"too_many_connections","limit"}` with `Retry-After: 5`, its connection closed.
   * Behind a proxy set `bridge.trustProxy`, or every client has the proxy's address. Raise it when many users share
   * an address (a NAT).
   * @default 256
   */
  maxConnectionsPerAddress?: number;
  /**
   * Largest state of one client token, in bytes of its JSON form. An event (or a step of a streaming handler)
   * whose changes would take the state past it is refused with `state_too_large` and its changes are dropped.
   * @default 2_000_000
   */
  maxStateBytes?: number;
  /**
   * Longest value, in characters, a client may send for one client storage var (`@Cookie`, `@LocalStorage`,
   * `@SessionStorage`) in `update_vars_internal`. A longer one refuses the event with `invalid_payload`, and none
   * of its values is applied.
   * @default 65_536
   */
  maxClientStorageValueLength?: number;
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
   * Total size in bytes of the events waiting for one client, as for `maxQueuedEvents`: each event counts its frame
   * as received (characters) plus 64 bytes per value it carries (keys and array items), about what its parsed
   * values take in memory at worst. A queue holding no event takes any one event up to `maxMessageBytes`.
   * @default 4_000_000
   */
  maxQueuedBytes?: number;
  /**
   * Total size in bytes of the client events waiting on one worker, counted as for `maxQueuedBytes`: in every
   * client's queue, held while a client does not read its output, and read while a socket waits to be admitted. An event that would take the worker over it
   * gets `busy`; events that need not wait run as usual. `maxQueuedBytes` bounds one client token; a client holding
   * many (a connection each, from several addresses) made the worker hold ~13-21 MB per connection.
   * @default 64_000_000
   */
  maxTotalQueuedBytes?: number;
  /**
   * Seconds a client token's state is kept after its last use.
   * @default 3600
   */
  stateTtlSeconds?: number;
  /**
   * Seconds the state of a token that never ran a handler (no state, or only hydrated) is kept: such a state
   * holds nothing but defaults, so losing it costs nothing, while throw-away tokens must not pin memory for
   * `stateTtlSeconds`. The first handler that changes the state gives it the full TTL, within its address's
   * `rateLimit.newStates`; a changed state past that budget is kept this long after its tab's last event.
   * @default 120
   */
  unusedStateTtlSeconds?: number;
  /**
   * Bytes of state, about their JSON size, the default in-memory store holds for all clients together. Past it,
   * states of tokens no open tab holds are dropped until it holds 90% of this, provisional ones (only hydrated) first,
   * then the least recently used, and a warning is logged: a dropped state is as an expired one. An open tab's state
   * is never dropped. However many tokens clients make up and leave, what they leave behind stays within it. Not used
   * with `redisUrl` or `stateStore` (give Redis its own `maxmemory`).
   * @default a quarter of the V8 heap limit (`v8.getHeapStatistics().heap_size_limit / 4`)
   */
  maxInMemoryStateBytes?: number;
  /**
   * With `redisUrl` or `redisCluster`: Redis's used memory, in bytes, above which the state store drops states nobody is using
   * (provisional ones first, then those used longest ago; never one under a lock, so never the state of an event
   * running or of a tab between quick events, nor that of a tab that is open) until Redis uses 90% of it, and logs a
   * warning. A dropped state is as an expired one. So clients making tabs faster than states expire cannot fill
   * Redis, where a full Redis (under `noeviction`) would fail every user's events. `'auto'`: 80% of Redis's
   * `maxmemory`, and nothing while Redis has none. `false`: never. On a Redis Cluster, each master on its own. Passed to
   * `RedisStateStore` as `memoryLimitBytes`.
   * @default 'auto'
   */
  redisMemoryLimitBytes?: number | 'auto' | false;
  /**
   * Milliseconds a new socket presenting a token that another live socket holds (on this worker or, with
   * `redisUrl`, anywhere in the cluster) waits for that socket to leave before it gets `new_token` and a fresh
   * state. A reload closes the old socket as the new page loads, but a busy worker or a proxy can deliver the new
   * socket first: within the grace it keeps its token and state. A duplicated tab, whose twin stays, gets its new
   * token this much later. `0` tells duplicated tabs at once, and a late-closing reload loses its state.
   * @default 2_000
   */
  tokenHandoverGraceMs?: number;
  /**
   * Milliseconds `app.close()` (a `SIGTERM` with `enableShutdownHooks()`) waits for the events running when it
   * began, so that their changes are saved and their answers reach their clients before the sockets close, and
   * before any of the app's shutdown hooks (`onModuleDestroy` and after, in every module) closes what they use; and
   * for the session reads of connections still being admitted, which are then not let in; and for the uploads under
   * way (an upload whose body still arrives after this time is refused `503 uploads_busy`). Events a client sends
   * behind its running event (queued before the shutdown or after) run too, within this time: Reflex's `state.js`
   * never sends an event twice, so a refused one was lost. Other events that arrive after it began, those whose turn
   * comes after this time, and those sent by a connection still being admitted are answered `server_stopping` and not
   * run. A handler still running after this long is left to the process's end.
   * @default 10_000
   */
  shutdownGraceMs?: number;
  /**
   * Production mode: errors sent to clients say only what kind of error happened, never the exception's
   * message. Stack traces are never sent, in any mode.
   * @default false
   */
  production?: boolean;
  /**
   * The security review at startup (see docs/security.md, "The startup security audit"): once the app is
   * bootstrapped, its configuration (these options, the session middleware, the state store, the app's CORS) is
   * checked, and each finding is logged as a warning with why it matters and the fix. `'strict'` refuses to start
   * instead (an error listing every finding); `'off'` skips it. Findings are readable from
   * `BridgeSecurityAudit.findings()`.
   * @default 'warn' with `production: true`, else 'off'
   */
  audit?: AuditMode;
  /**
   * How many processes serve this app (one port each behind a proxy, or a process manager's instances). Only the
   * security audit reads it: several workers need shared stores (`redisUrl`, a shared session store). A
   * `node:cluster` worker counts as several without it.
   * @default 1 (several in a `node:cluster` worker)
   */
  workers?: number;
  /**
   * What users see when one of their events is refused or fails: a subclass of {@link BridgeErrorPresenter}
   * whose `present(error)` returns the client events to send (a toast, an alert, a redirect, or none), created
   * with DI. The structured error is sent either way (`bridge_error`, and alongside the presented events).
   * @default BridgeErrorPresenter: the message in Reflex's toaster, or a `window.alert` where the page has none
   */
  errorPresenter?: Type<BridgeErrorPresenter>;
  /**
   * Origins besides the app's own that browsers may act from with the user's cookies: open the event socket,
   * redeem a session cookie handoff, and pass `SameOriginMiddleware`. Each entry is an origin
   * (`scheme://host[:port]`, e.g. `http://localhost:3000` for a frontend served by its own dev server); they also
   * get CORS headers (with credentials) on the event channel and the handoff route. `true` allows every origin,
   * explicitly. A browser request from any other origin is refused; requests without `Origin` and
   * `Sec-Fetch-Site` (non-browser clients) are not affected. See docs/security.md, "The origin policy".
   * @default undefined (the app's own origin only: scheme, host and port of the request, see `bridge.trustProxy`)
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
   * The HTTP routes Reflex frontends call: `GET /ping` and `GET /_health` (on `@nestjs/terminus`), under the
   * prefix of `path` (`/api/_event` → `/api/ping`). Move either, turn either off (`false`), or both (`false`).
   * See {@link ReflexRoutesOptions}.
   * @default { ping: '<prefix>/ping', health: '<prefix>/_health', checkTimeoutMs: 2000 }
   */
  reflexRoutes?: false | ReflexRoutesOptions;
  /**
   * File uploads on `POST <prefix>/_upload` and serving stored files on `GET <prefix>/_upload/<path>`: where files
   * go and the limits of one request (each answered `413` when passed). `false` turns both routes off. See
   * {@link UploadOptions}.
   * @default { directory: 'uploaded_files', tempDirectory: os.tmpdir(), maxFileBytes: 100 MiB, maxFiles: 20, maxTotalBytes: 1 GiB, maxEventArgsBytes: 1 MiB, chunkQueueLength: 4 }
   */
  uploads?: false | UploadOptions;
  /**
   * One Redis for everything several workers must share: when set, and unless overridden by the option
   * of each, client states live in a `RedisStateStore`, the event cache in Redis, and live updates
   * fan out through a `RedisTransport`.
   * @default undefined (everything in this process)
   */
  redisUrl?: string;
  /**
   * A Redis Cluster instead of one Redis, for the same purposes as `redisUrl` (give one of the two): states,
   * locks and handoffs shard by client token, Socket.IO uses the sharded Redis adapter (Redis 7 sharded pub/sub).
   * See {@link RedisClusterOptions} and the deployment guide's "Redis Cluster" section.
   * @example { rootNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000', 'redis://10.0.0.3:7000'] }
   * @default undefined
   */
  redisCluster?: RedisClusterOptions;
  /** Live updates: how `LiveBroadcaster` fans model changes out. See {@link LiveOptions}. */
  live?: LiveOptions;
  /**
   * Rate limits of events: a budget per connection, and the `@Throttle()` limits of handlers (per client IP, in
   * Redis with `redisUrl`). `false` turns both off. See {@link RateLimitOptions}.
   * @default { perConnection: { limit: 500, ttlMs: 10_000 } }, handler limits where `@Throttle()` asks for them
   */
  rateLimit?: false | RateLimitOptions;
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
   * The app's session store, when sessions live in Redis (connect-redis): sessions deleted, expired or
   * evicted in Redis itself then end at once (fast-auth snapshots dropped on every worker, connections
   * re-authenticated or disconnected per `bridge.sessionEndAction`). See {@link SessionStoreOptions}.
   * @default undefined (only logouts through the session store's `destroy` end sessions at once)
   */
  sessionStore?: SessionStoreOptions;
  /**
   * Bridge timing: `true` logs one debug line per phase through the `ReflexBridgeMetrics` logger; an object
   * names the logger and/or adds prom-client metrics. See {@link MetricsOptions}.
   * @default false
   */
  metrics?: boolean | MetricsOptions;
  /**
   * Devtools (development only): every event's tier and why, its phases (each middleware, guard and
   * interceptor by name), queries, delta, user and errors in a bounded buffer, served as JSON and as a page
   * under `/_bridge/devtools`, with a tier advisor. `true` for the defaults, or {@link DevtoolsOptions}.
   * Refused at startup with `production: true`. Off, it costs nothing per event.
   * @default false
   */
  devtools?: boolean | DevtoolsOptions;
  /**
   * How the root state's router data (page, URL, headers, session, route id) goes to each client. Reflex 0.9.12
   * split Reflex's one `router` var into five (`rx_router_session`, `rx_router_headers`, `rx_router_page`,
   * `rx_router_url`, `rx_router_route_id`): a page compiled by 0.9.12 or later reads only those, an older one only
   * `router`. `'auto'` sends each client the shape of the Reflex version its `state.js` announces (the WebSocket
   * subprotocol, `reflex.json`'s version), and `router` to a client announcing none (`@reflex-bridge/client`);
   * `'combined'` always sends `router`; `'split'` always the five. Server-side, handlers see the same data either way.
   * @default 'auto'
   */
  routerVars?: RouterVarsOption;
  /**
   * `'lean'` turns off, only where you left them unset, `bridge.authAutoSync` and the `bridge.mirrors`
   * (smaller deltas, less per-event work). Values you set explicitly are kept.
   * @default 'default'
   */
  preset?: 'default' | 'lean';
  /**
   * Which pillars are on, as reflex-django's `profile`: `'integrated'` (the app's pipeline around events per tier,
   * the SPA served when `spa` is given), `'split_dev'` (development: the frontend proxied to `devServer.url`, HMR
   * WebSocket included; refused with `production: true`), `'reflex_only'` (every event on tier `none`, the SPA
   * served when `spa` is given; `bridge.authMiddleware`, `bridge.fullMiddleware` and `fastAuth` are not run, at connect
   * either). Conflicting settings are refused at startup. See docs/spa-and-profiles.md.
   * @default 'integrated'
   */
  profile?: ReflexProfile;
  /**
   * Serve a built single-page app (index.html + hashed assets) with caching and a deep-link fallback. See
   * {@link SpaOptions}.
   * @default undefined (not served)
   */
  spa?: false | SpaOptions;
  /**
   * The frontend's dev server, proxied to with `profile: 'split_dev'`. See {@link DevServerOptions}.
   * @default undefined
   */
  devServer?: DevServerOptions;
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
  maxOutboundBytes: number;
  maxTotalOutboundBytes: number;
  maxTotalUnfinishedInboundBytes: number;
  unfinishedMessageTimeoutMs: number;
  maxConnectionsPerAddress: number;
  maxStateBytes: number;
  maxClientStorageValueLength: number;
  maxQueuedEvents: number;
  maxQueuedBytes: number;
  maxTotalQueuedBytes: number;
  stateTtlSeconds: number;
  unusedStateTtlSeconds: number;
  /** Undefined when not set: the in-memory store's own default. */
  maxInMemoryStateBytes: number | undefined;
  redisMemoryLimitBytes: number | 'auto' | false;
  tokenHandoverGraceMs: number;
  shutdownGraceMs: number;
  production: boolean;
  audit: AuditMode;
  /** Undefined when not set (one process, unless it is a `node:cluster` worker). */
  workers: number | undefined;
  errorPresenter: Type<BridgeErrorPresenter> | undefined;
  corsOrigins: string[] | boolean | undefined;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  stateStore: StateStore | undefined;
  cookieHandoffPath: string;
  reflexRoutes: ResolvedReflexRoutesOptions;
  /** Undefined when uploads are off (`uploads: false`). */
  uploads: ResolvedUploadOptions | undefined;
  bridge: Required<Pick<BridgeOptions, 'mode' | 'authAutoSync' | 'redirectStatuses' | 'sessionEndAction' | 'middlewareTimeoutMs' | 'asyncContext'>> & BridgeOptions & { mirrors: Required<MirrorOptions> };
  eventCache: ResolvedEventCacheOptions;
  fastAuth: (FastAuthOptions & { sessionSecrets: string[]; sessionCookieName: string }) | undefined;
  metrics: (Required<Omit<MetricsOptions, 'registry' | 'path'>> & Pick<MetricsOptions, 'registry' | 'path'>) | undefined;
  devtools: ResolvedDevtoolsOptions | undefined;
  preset: 'default' | 'lean';
  routerVars: RouterVarsOption;
  redisUrl: string | undefined;
  redisCluster: ResolvedRedisClusterOptions | undefined;
  live: ResolvedLiveOptions;
  rateLimit: ResolvedRateLimitOptions;
  sessionStore: ResolvedSessionStoreOptions | undefined;
  profile: ReflexProfile;
  /** Undefined when no SPA is served. */
  spa: ResolvedSpaOptions | undefined;
  /** Set with `profile: 'split_dev'` only. */
  devServer: ResolvedDevServerOptions | undefined;
}

/** The defaults, in one place. */
export const DEFAULT_OPTIONS = {
  path: '/_event',
  maxMessageBytes: 1_000_000,
  maxOutboundBytes: 16_000_000,
  maxTotalOutboundBytes: 256_000_000,
  maxTotalUnfinishedInboundBytes: 64_000_000,
  unfinishedMessageTimeoutMs: 30_000,
  maxConnectionsPerAddress: 256,
  maxStateBytes: 2_000_000,
  maxClientStorageValueLength: 65_536,
  maxQueuedEvents: 100,
  maxQueuedBytes: 4_000_000,
  maxTotalQueuedBytes: 64_000_000,
  stateTtlSeconds: 3600,
  unusedStateTtlSeconds: 120,
  tokenHandoverGraceMs: 2_000,
  shutdownGraceMs: 10_000,
  production: false,
  pingIntervalMs: 25_000,
  pingTimeoutMs: 120_000,
  cookieHandoffPath: '/_bridge/session-cookie',
  bridge: { mode: 'full', authAutoSync: true, sessionEndAction: 'reauthenticate', middlewareTimeoutMs: 10_000, asyncContext: false, redirectStatuses: [301, 302, 303, 307, 308], mirrors: { flash: true, csrf: true, language: true } },
  eventCache: EVENT_CACHE_DEFAULTS,
  metrics: { logger: 'ReflexBridgeMetrics', log: true },
} as const;


function positiveNumber(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A memory limit: a positive number of bytes, `'auto'` (the default) or `false`. */
function memoryLimit(name: string, value: unknown): number | 'auto' | false {
  if (value === undefined || value === 'auto') return 'auto';
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive number of bytes, 'auto' or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeNumber(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(name, `expected a number of milliseconds, 0 or more, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A millisecond option that feeds a Node timer, refused above what the timers honour (2^31 − 1 ms). */
function timerMs(name: string, value: number | undefined): number | undefined {
  if (value !== undefined) assertTimerMs(name, value);
  return value;
}

function positiveInteger(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A {@link positiveInteger} of at most `max`, which the message names with `why`. */
function positiveIntegerUpTo(name: string, value: unknown, max: number, why: string): number | undefined {
  const given = positiveInteger(name, value);
  if (given !== undefined && given > max) throw new InvalidOptionError(name, `expected at most ${max} (${why}), got ${given}`);
  return given;
}

/**
 * A boolean option: exactly `true` or `false`. Values from the environment arrive as strings, and `"false"` is
 * truthy: taken as given it would turn on what it says off (`bridge.trustProxy: "false"` would trust forged
 * `X-Forwarded-For` headers), so anything else is refused.
 */
function booleanOption(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `expected true or false, got ${JSON.stringify(value)} (${typeof value})`);
  return value;
}

function functionOption(name: string, value: unknown, expected: string): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(name, `expected ${expected}, got ${typeof value}`);
}

function objectOption(name: string, value: unknown, expected: string): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidOptionError(name, `expected ${expected}, got ${JSON.stringify(value)}`);
  }
}

/** `bridge.redirectStatuses`: HTTP redirect statuses (3xx). */
function redirectStatusesOption(value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((status) => Number.isInteger(status) && status >= 300 && status <= 399)) {
    throw new InvalidOptionError('bridge.redirectStatuses', `expected an array of 3xx status codes such as [302, 303], got ${JSON.stringify(value)}`);
  }
  return [...(value as number[])];
}

/** `bridge.tierGuards`: known keys, each a class (that it extends the right guard is checked when the module builds it). */
function validateTierGuards(tierGuards: BridgeOptions['tierGuards']): void {
  if (tierGuards === undefined) return;
  if (tierGuards === null || typeof tierGuards !== 'object') throw new InvalidOptionError('bridge.tierGuards', 'expected an object { none?, authOnly?, full? } of guard classes');
  rejectUnknownKeys('bridge.tierGuards', tierGuards, ['none', 'authOnly', 'full']);
  for (const [key, value] of Object.entries(tierGuards)) {
    if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(`bridge.tierGuards.${key}`, 'expected a guard class');
  }
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
  'path', 'maxMessageBytes', 'maxOutboundBytes', 'maxTotalOutboundBytes', 'maxTotalUnfinishedInboundBytes', 'unfinishedMessageTimeoutMs', 'maxConnectionsPerAddress', 'maxStateBytes', 'maxClientStorageValueLength', 'maxQueuedEvents', 'maxQueuedBytes', 'maxTotalQueuedBytes', 'stateTtlSeconds', 'unusedStateTtlSeconds', 'maxInMemoryStateBytes', 'redisMemoryLimitBytes', 'tokenHandoverGraceMs', 'shutdownGraceMs', 'production', 'errorPresenter', 'corsOrigins', 'pingIntervalMs', 'pingTimeoutMs',
  'stateStore', 'bridge', 'isGlobal', 'cookieHandoffPath', 'reflexRoutes', 'eventCache', 'fastAuth', 'metrics', 'devtools', 'preset', 'redisUrl', 'redisCluster', 'live', 'rateLimit', 'sessionStore', 'uploads',
  'audit', 'workers', 'routerVars',
  'profile', 'spa', 'devServer',
]);
const BRIDGE_MODES = new Set(['full', 'smart', 'none']);

/** Merges the defaults into `options` and validates every field. */
export function resolveOptions(options: ReflexBridgeModuleOptions = {}): ResolvedReflexBridgeOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidOptionError(key, 'unknown option');
  }
  booleanOption('isGlobal', options.isGlobal);
  const path = httpPath('path', options.path ?? DEFAULT_OPTIONS.path);
  const cookieHandoffPath = httpPath('cookieHandoffPath', options.cookieHandoffPath ?? DEFAULT_OPTIONS.cookieHandoffPath);
  if (cookieHandoffPath === path || cookieHandoffPath.startsWith(`${path}/`)) {
    throw new InvalidOptionError('cookieHandoffPath', `must lie outside the event path "${path}"`);
  }
  booleanOption('production', options.production);
  if (options.errorPresenter !== undefined && typeof options.errorPresenter !== 'function') {
    throw new InvalidOptionError('errorPresenter', 'expected a class extending BridgeErrorPresenter');
  }
  objectOption('bridge', options.bridge, 'an object');
  const bridge = options.bridge ?? {};
  rejectUnknownKeys('bridge', bridge, ['mode', 'resolver', 'authMiddleware', 'fullMiddleware', 'mirrors', 'authAutoSync', 'redirectStatuses', 'trustProxy', 'withheldHeaders', 'sessionEndAction', 'middlewareTimeoutMs', 'usernameOf', 'asyncContext', 'tierGuards']);
  objectOption('bridge.mirrors', bridge.mirrors, 'an object { flash?, csrf?, language? } of booleans');
  rejectUnknownKeys('bridge.mirrors', bridge.mirrors ?? {}, ['flash', 'csrf', 'language']);
  for (const key of ['flash', 'csrf', 'language'] as const) booleanOption(`bridge.mirrors.${key}`, bridge.mirrors?.[key]);
  for (const key of ['authAutoSync', 'trustProxy', 'asyncContext'] as const) booleanOption(`bridge.${key}`, bridge[key]);
  const redirectStatuses = redirectStatusesOption(bridge.redirectStatuses);
  functionOption('bridge.usernameOf', bridge.usernameOf, 'a function (user) => string');
  validateTierGuards(bridge.tierGuards);
  if (options.fastAuth !== undefined && options.fastAuth !== false) objectOption('fastAuth', options.fastAuth, 'false or an object with sessionSecret and loadUser');
  if (options.fastAuth) rejectUnknownKeys('fastAuth', options.fastAuth, ['sessionSecret', 'sessionCookieName', 'loadUser', 'userIdOf']);
  if (options.metrics !== undefined && typeof options.metrics !== 'boolean') objectOption('metrics', options.metrics, 'a boolean or an object');
  if (typeof options.metrics === 'object') rejectUnknownKeys('metrics', options.metrics, ['logger', 'log', 'registry', 'path']);
  const mode = bridge.mode ?? DEFAULT_OPTIONS.bridge.mode;
  if (!BRIDGE_MODES.has(mode)) {
    throw new InvalidOptionError('bridge.mode', `expected "full", "smart" or "none", got ${JSON.stringify(mode)}`);
  }
  if (bridge.withheldHeaders !== undefined && (!Array.isArray(bridge.withheldHeaders) || !bridge.withheldHeaders.every((name) => typeof name === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)))) {
    throw new InvalidOptionError('bridge.withheldHeaders', `expected an array of header names, got ${JSON.stringify(bridge.withheldHeaders)}`);
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
  if (options.stateStore !== undefined && (options.stateStore === null || typeof (options.stateStore as StateStore).acquire !== 'function')) {
    throw new InvalidOptionError('stateStore', 'expected a StateStore instance');
  }
  const routerVars = options.routerVars ?? 'auto';
  if (routerVars !== 'auto' && routerVars !== 'combined' && routerVars !== 'split') {
    throw new InvalidOptionError('routerVars', `expected "auto", "combined" or "split", got ${JSON.stringify(routerVars)}`);
  }
  const preset = options.preset ?? 'default';
  if (preset !== 'default' && preset !== 'lean') {
    throw new InvalidOptionError('preset', `expected "default" or "lean", got ${JSON.stringify(preset)}`);
  }
  // The lean preset changes only what the app left unset.
  const lean = preset === 'lean';
  const mirrors = bridge.mirrors ?? {};
  const corsOrigins = resolveCorsOrigins(options.corsOrigins);
  assertRedisUrl('redisUrl', options.redisUrl);
  const redisCluster = resolveRedisClusterOptions(options.redisCluster, options.redisUrl);
  const serving = resolveServingOptions(options.profile, options.spa, options.devServer, {
    production: options.production === true,
    bridgeMode: bridge.mode,
    bridgeResolver: bridge.resolver !== undefined,
  });
  // reflex_only: nothing of the app's pipeline runs, on events or at connect (the lists are still validated above).
  const reflexOnly = serving.profile === 'reflex_only';
  const fastAuth = resolveFastAuth(options.fastAuth);
  const resolved: ResolvedReflexBridgeOptions = {
    ...serving,
    preset,
    routerVars,
    redisUrl: options.redisUrl,
    redisCluster,
    live: resolveLiveOptions(options.live),
    rateLimit: resolveRateLimitOptions(options.rateLimit),
    sessionStore: resolveSessionStoreOptions(options.sessionStore, options.redisUrl, redisCluster !== undefined),
    eventCache: resolveEventCacheOptions(options.eventCache, options.redisUrl, redisCluster !== undefined),
    fastAuth: reflexOnly ? undefined : fastAuth,
    metrics: resolveMetrics(options.metrics),
    devtools: resolveDevtools(options.devtools, options.production === true, path),
    path,
    maxMessageBytes: positiveNumber('maxMessageBytes', options.maxMessageBytes) ?? DEFAULT_OPTIONS.maxMessageBytes,
    maxOutboundBytes: positiveNumber('maxOutboundBytes', options.maxOutboundBytes) ?? DEFAULT_OPTIONS.maxOutboundBytes,
    maxTotalOutboundBytes: positiveNumber('maxTotalOutboundBytes', options.maxTotalOutboundBytes) ?? DEFAULT_OPTIONS.maxTotalOutboundBytes,
    maxTotalUnfinishedInboundBytes: positiveNumber('maxTotalUnfinishedInboundBytes', options.maxTotalUnfinishedInboundBytes) ?? DEFAULT_OPTIONS.maxTotalUnfinishedInboundBytes,
    unfinishedMessageTimeoutMs: timerMs('unfinishedMessageTimeoutMs', positiveNumber('unfinishedMessageTimeoutMs', options.unfinishedMessageTimeoutMs)) ?? DEFAULT_OPTIONS.unfinishedMessageTimeoutMs,
    maxConnectionsPerAddress: positiveInteger('maxConnectionsPerAddress', options.maxConnectionsPerAddress) ?? DEFAULT_OPTIONS.maxConnectionsPerAddress,
    maxStateBytes: positiveNumber('maxStateBytes', options.maxStateBytes) ?? DEFAULT_OPTIONS.maxStateBytes,
    maxClientStorageValueLength: positiveInteger('maxClientStorageValueLength', options.maxClientStorageValueLength) ?? DEFAULT_OPTIONS.maxClientStorageValueLength,
    maxQueuedEvents: positiveInteger('maxQueuedEvents', options.maxQueuedEvents) ?? DEFAULT_OPTIONS.maxQueuedEvents,
    maxQueuedBytes: positiveInteger('maxQueuedBytes', options.maxQueuedBytes) ?? DEFAULT_OPTIONS.maxQueuedBytes,
    maxTotalQueuedBytes: positiveInteger('maxTotalQueuedBytes', options.maxTotalQueuedBytes) ?? DEFAULT_OPTIONS.maxTotalQueuedBytes,
    stateTtlSeconds: positiveNumber('stateTtlSeconds', options.stateTtlSeconds) ?? DEFAULT_OPTIONS.stateTtlSeconds,
    unusedStateTtlSeconds: positiveNumber('unusedStateTtlSeconds', options.unusedStateTtlSeconds) ?? DEFAULT_OPTIONS.unusedStateTtlSeconds,
    maxInMemoryStateBytes: positiveNumber('maxInMemoryStateBytes', options.maxInMemoryStateBytes),
    redisMemoryLimitBytes: memoryLimit('redisMemoryLimitBytes', options.redisMemoryLimitBytes),
    tokenHandoverGraceMs: timerMs('tokenHandoverGraceMs', nonNegativeNumber('tokenHandoverGraceMs', options.tokenHandoverGraceMs)) ?? DEFAULT_OPTIONS.tokenHandoverGraceMs,
    shutdownGraceMs: timerMs('shutdownGraceMs', nonNegativeNumber('shutdownGraceMs', options.shutdownGraceMs)) ?? DEFAULT_OPTIONS.shutdownGraceMs,
    production: options.production ?? DEFAULT_OPTIONS.production,
    audit: resolveAuditMode(options.audit, options.production ?? DEFAULT_OPTIONS.production),
    workers: resolveWorkers(options.workers),
    errorPresenter: options.errorPresenter,
    corsOrigins,
    pingIntervalMs: timerMs('pingIntervalMs', positiveNumber('pingIntervalMs', options.pingIntervalMs)) ?? DEFAULT_OPTIONS.pingIntervalMs,
    pingTimeoutMs: timerMs('pingTimeoutMs', positiveNumber('pingTimeoutMs', options.pingTimeoutMs)) ?? DEFAULT_OPTIONS.pingTimeoutMs,
    stateStore: options.stateStore,
    cookieHandoffPath,
    reflexRoutes: resolveReflexRoutesOptions(options.reflexRoutes, path),
    uploads: resolveUploadOptions(options.uploads),
    bridge: {
      ...bridge,
      ...(reflexOnly ? { authMiddleware: [], fullMiddleware: [] } : {}),
      // reflex_only: no event runs the app's pipeline (TierResolution also overrides @BridgeTier).
      mode: reflexOnly ? 'none' : mode,
      authAutoSync: bridge.authAutoSync ?? (lean ? false : DEFAULT_OPTIONS.bridge.authAutoSync),
      mirrors: {
        flash: mirrors.flash ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.flash),
        csrf: mirrors.csrf ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.csrf),
        language: mirrors.language ?? (lean ? false : DEFAULT_OPTIONS.bridge.mirrors.language),
      },
      redirectStatuses: redirectStatuses ?? [...DEFAULT_OPTIONS.bridge.redirectStatuses],
      sessionEndAction: bridge.sessionEndAction ?? DEFAULT_OPTIONS.bridge.sessionEndAction,
      middlewareTimeoutMs: timerMs('bridge.middlewareTimeoutMs', positiveNumber('bridge.middlewareTimeoutMs', bridge.middlewareTimeoutMs)) ?? DEFAULT_OPTIONS.bridge.middlewareTimeoutMs,
      // Node gives header names in lower case.
      withheldHeaders: bridge.withheldHeaders?.map((name) => name.toLowerCase()),
      asyncContext: bridge.asyncContext ?? DEFAULT_OPTIONS.bridge.asyncContext,
    },
  };
  refuseRouteCollisions(moduleRoutes(resolved), resolved.spa?.base, [{ option: 'the module (everything under /_bridge is its own)', path: '/_bridge', subtree: true }]);
  return resolved;
}

/** The HTTP paths the module answers with these options, each with the option that sets it. */
function moduleRoutes(options: ResolvedReflexBridgeOptions): ModuleRoute[] {
  const routes: ModuleRoute[] = [
    { option: 'path', path: options.path, subtree: true },
    { option: 'cookieHandoffPath', path: options.cookieHandoffPath, subtree: true },
  ];
  if (options.uploads) routes.push({ option: 'uploads (served at the prefix of path + "/_upload")', path: `${pathPrefixOf(options.path)}/_upload`, subtree: true });
  if (options.reflexRoutes.ping !== undefined) routes.push({ option: 'reflexRoutes.ping', path: options.reflexRoutes.ping, subtree: false });
  if (options.reflexRoutes.health !== undefined) routes.push({ option: 'reflexRoutes.health', path: options.reflexRoutes.health, subtree: false });
  if (options.devtools) routes.push({ option: 'devtools.path', path: options.devtools.path, subtree: true });
  if (options.metrics?.path !== undefined) routes.push({ option: 'metrics.path', path: options.metrics.path, subtree: false });
  return routes;
}

/** A list of origins, each normalised as browsers send it (`https://app.example.com`, no path, no default port). */
function resolveCorsOrigins(value: unknown): string[] | boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (!Array.isArray(value)) throw new InvalidOptionError('corsOrigins', 'expected an array of origins such as "https://app.example.com", or true for any origin');
  return value.map((entry: unknown, index) => {
    let url: URL | undefined;
    try {
      url = typeof entry === 'string' ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    // An origin has no path, query or credentials; "*" and "null" are not origins (use `true` for any origin).
    if (!url || url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
      throw new InvalidOptionError(`corsOrigins[${index}]`, `expected an origin such as "https://app.example.com" (scheme, host, optional port), got ${JSON.stringify(entry)}`);
    }
    return url.origin;
  });
}

function resolveFastAuth(fastAuth: ReflexBridgeModuleOptions['fastAuth']): ResolvedReflexBridgeOptions['fastAuth'] {
  if (fastAuth === undefined || fastAuth === false) return undefined;
  if (typeof fastAuth !== 'object') throw new InvalidOptionError('fastAuth', 'expected false or an object with sessionSecret and loadUser');
  const secrets = Array.isArray(fastAuth.sessionSecret) ? fastAuth.sessionSecret : [fastAuth.sessionSecret];
  if (secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || secret.length === 0)) {
    throw new InvalidOptionError('fastAuth.sessionSecret', 'expected the session middleware\'s secret (a non-empty string or array of strings)');
  }
  if (typeof fastAuth.loadUser !== 'function') throw new InvalidOptionError('fastAuth.loadUser', 'expected a function (id) => user');
  functionOption('fastAuth.userIdOf', fastAuth.userIdOf, 'a function (user) => id');
  if (fastAuth.sessionCookieName !== undefined && (typeof fastAuth.sessionCookieName !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(fastAuth.sessionCookieName))) {
    throw new InvalidOptionError('fastAuth.sessionCookieName', `expected the session cookie's name such as "connect.sid", got ${JSON.stringify(fastAuth.sessionCookieName)}`);
  }
  return { ...fastAuth, sessionSecrets: secrets, sessionCookieName: fastAuth.sessionCookieName ?? 'connect.sid' };
}

function resolveDevtools(devtools: ReflexBridgeModuleOptions['devtools'], production: boolean, eventPath: string): ResolvedDevtoolsOptions | undefined {
  if (devtools === undefined || devtools === false) return undefined;
  const given = devtools === true ? {} : devtools;
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('devtools', 'expected a boolean or an object');
  // They show users, session hashes, SQL and state: never on a production server.
  if (production) throw new InvalidOptionError('devtools', 'devtools are for development only and are refused with production: true');
  rejectUnknownKeys('devtools', given, ['maxEvents', 'path', 'logAdviceOnShutdown', 'allowedHosts', 'maxStreams', 'maxStreamsPerAddress']);
  const path = given.path ?? DEVTOOLS_DEFAULTS.path;
  if (typeof path !== 'string' || !/^\/[A-Za-z0-9_\-/]*[A-Za-z0-9_-]$/.test(path)) throw new InvalidOptionError('devtools.path', `expected a path such as "/_bridge/devtools", got ${JSON.stringify(path)}`);
  if (path === eventPath || path.startsWith(`${eventPath}/`)) throw new InvalidOptionError('devtools.path', `must lie outside the event path "${eventPath}"`);
  booleanOption('devtools.logAdviceOnShutdown', given.logAdviceOnShutdown);
  const allowedHosts = given.allowedHosts ?? DEVTOOLS_DEFAULTS.allowedHosts;
  if (!Array.isArray(allowedHosts) || !allowedHosts.every((host) => typeof host === 'string' && /^\.?[A-Za-z0-9.-]+$/.test(host))) {
    throw new InvalidOptionError('devtools.allowedHosts', `expected an array of host names such as "dev.example" or ".dev.example", got ${JSON.stringify(allowedHosts)}`);
  }
  return {
    maxEvents: positiveIntegerUpTo('devtools.maxEvents', given.maxEvents, MAX_DEVTOOLS_EVENTS, 'each worker holds every one of them in memory') ?? DEVTOOLS_DEFAULTS.maxEvents,
    path,
    logAdviceOnShutdown: given.logAdviceOnShutdown ?? DEVTOOLS_DEFAULTS.logAdviceOnShutdown,
    allowedHosts: allowedHosts.map((host) => host.toLowerCase()),
    maxStreams: positiveIntegerUpTo('devtools.maxStreams', given.maxStreams, MAX_DEVTOOLS_STREAMS, 'each open stream may hold 1 MiB') ?? DEVTOOLS_DEFAULTS.maxStreams,
    maxStreamsPerAddress: positiveIntegerUpTo('devtools.maxStreamsPerAddress', given.maxStreamsPerAddress, MAX_DEVTOOLS_STREAMS, 'each open stream may hold 1 MiB') ?? DEVTOOLS_DEFAULTS.maxStreamsPerAddress,
  };
}

function resolveMetrics(metrics: ReflexBridgeModuleOptions['metrics']): ResolvedReflexBridgeOptions['metrics'] {
  if (metrics === undefined || metrics === false) return undefined;
  const given = metrics === true ? {} : metrics;
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('metrics', 'expected a boolean or an object');
  if (given.logger !== undefined && (typeof given.logger !== 'string' || given.logger === '')) {
    throw new InvalidOptionError('metrics.logger', `expected a logger name (a non-empty string), got ${JSON.stringify(given.logger)}`);
  }
  booleanOption('metrics.log', given.log);
  if (given.registry !== undefined && (given.registry === null || typeof given.registry.registerMetric !== 'function')) {
    throw new InvalidOptionError('metrics.registry', 'expected a prom-client Registry');
  }
  if (given.path !== undefined) {
    if (typeof given.path !== 'string' || !/^\/[A-Za-z0-9_\-/.]*$/.test(given.path)) throw new InvalidOptionError('metrics.path', `expected a path such as "/metrics", got ${JSON.stringify(given.path)}`);
    if (!given.registry) throw new InvalidOptionError('metrics.path', 'needs metrics.registry (the prom-client Registry it serves)');
  }
  return { logger: given.logger ?? DEFAULT_OPTIONS.metrics.logger, log: given.log ?? DEFAULT_OPTIONS.metrics.log, registry: given.registry, path: given.path };
}

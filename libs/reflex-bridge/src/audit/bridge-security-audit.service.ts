import cluster from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { RequestHandler } from 'express';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { StateStore } from '../state/store/state-store.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import { RedisStateStore } from '../state/store/redis-state.store.js';
import type { AuditMode } from './audit.options.js';
import type { SecurityFinding } from './security-finding.js';
import { describeFinding, FAST_AUTH_TTL_THRESHOLD_SECONDS, MAX_MESSAGE_BYTES_THRESHOLD, securityFinding } from './security-finding.catalog.js';
import { SecurityAuditError } from './security-audit.error.js';
import { RequestTargetMiddleware } from '../security/request-target.middleware.js';
import { probeCorsMiddleware, probeSessionMiddleware, type SessionProbe, type SessionProbeFailure } from './middleware.probe.js';
import { secretWeakness } from './session-secret.check.js';
import { redisWithoutPassword } from './redis-password.check.js';
import { runMiddlewareChain } from '../bridge/request/middleware-runner.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import type { SyntheticResponse } from '../bridge/request/synthetic-response.js';

/** An Express app's middleware stack, as far as the audit reads it (Express 5 `app.router`, Express 4 `app._router`). */
interface ExpressLike {
  router?: { stack?: { handle?: unknown }[] };
  _router?: { stack?: { handle?: unknown }[] };
  /** `app.get('trust proxy')` reads a setting (with one argument). */
  get?: (setting: string) => unknown;
}

/** What express-session fails each request with when it was given no secret (and cookie-parser gives it none). */
const MISSING_SECRET_MESSAGE = 'secret option required for sessions';

/** The HTTP server events on which a request's headers arrive: plain requests (and polling) and WebSocket upgrades. */
type ServerLike = { on(event: string, listener: (request: IncomingMessage) => void): unknown; off(event: string, listener: (request: IncomingMessage) => void): unknown; listenerCount(event: string): number };

/**
 * The security review of the running configuration: once the app is bootstrapped (its middleware known), checks
 * the module options, the session middleware (`bridge.authMiddleware`, or `app.use`d), the state store and the
 * app's CORS, and logs each finding as a warning with why it matters and the fix; with `audit: 'strict'` it
 * refuses to start instead. On with `production: true` (`audit: 'warn'`), or with an explicit `audit`.
 *
 * One check needs traffic: `X-Forwarded-For` on a request or handshake while `bridge.trustProxy` is unset (the app
 * is behind a proxy it does not trust). That finding is logged when first seen, once, and added to {@link findings}.
 * @example
 * ```ts
 * const findings = app.get(BridgeSecurityAudit).findings();
 * if (findings.length) alert(findings.map((f) => f.code));
 * ```
 * @publicApi
 */
@Injectable()
export class BridgeSecurityAudit implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridgeAudit');
  private readonly found: SecurityFinding[] = [];
  private stopWatching?: () => void;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly stateStore: StateStore,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() private readonly requestTarget?: RequestTargetMiddleware,
  ) {}

  /** What the audit does in this app: `'warn'`, `'strict'` or `'off'`. */
  get mode(): AuditMode {
    return this.options.audit;
  }

  /** Every finding so far: the startup review's, then any seen in traffic. Empty when the audit is off. */
  findings(): SecurityFinding[] {
    return [...this.found];
  }

  /**
   * Runs the review once, at bootstrap: by then the app's `app.use` middleware (session, CORS) is mounted. A throw
   * here (strict) makes `app.init()` / `app.listen()` reject, so the app never serves.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.mode === 'off') return;
    const findings = await this.review();
    this.found.push(...findings);
    if (this.mode === 'strict' && findings.length > 0) throw new SecurityAuditError(findings);
    for (const finding of findings) this.logger.warn(describeFinding(finding));
    if (findings.length === 0) this.logger.log('Security audit: no findings');
    if (this.options.bridge.trustProxy !== true) this.watchForProxy();
    else this.watchForBypass();
  }

  /** Stops watching for proxy headers (the listeners sit on the app's HTTP server). */
  onApplicationShutdown(): void {
    this.stopWatching?.();
  }

  /** The startup review: every check that the configuration alone answers. */
  private async review(): Promise<SecurityFinding[]> {
    const options = this.options;
    const findings: SecurityFinding[] = [];
    const probed = await this.probeSession();
    const session = probed && 'failure' in probed ? undefined : probed;
    if (probed && 'failure' in probed) {
      findings.push(securityFinding('session_middleware_fails', `The session middleware fails a new request ("${probed.failure}"), so every request and event connection that runs it is refused`));
    }
    if (session) {
      const { secure, httpOnly, sameSite } = session.cookie;
      const cookie = session.cookieName ? `The session cookie "${session.cookieName}"` : 'The session cookie';
      if (!secure) findings.push(securityFinding('session_cookie_not_secure', `${cookie} is not Secure, even on HTTPS requests`));
      if (!httpOnly) findings.push(securityFinding('session_cookie_not_httponly', `${cookie} is not HttpOnly`));
      if (typeof sameSite === 'string' && sameSite.toLowerCase() === 'none') {
        const listed = Array.isArray(options.corsOrigins) && options.corsOrigins.length > 0;
        if (!secure) findings.push(securityFinding('session_cookie_samesite_none', 'The session cookie is SameSite=None without Secure (browsers refuse it)'));
        else if (!listed) findings.push(securityFinding('session_cookie_samesite_none', 'The session cookie is SameSite=None, and no frontend on another origin is listed in corsOrigins to need it'));
      }
      if (session.acceptedCommonSecret !== undefined) {
        findings.push(securityFinding('session_secret_default', 'The session middleware accepts cookies signed with a well-known default secret'));
      }
      const secrets = options.fastAuth?.sessionSecrets ?? [];
      if (session.refusedSecrets.length > 0) {
        const which = session.refusedSecrets.map((index) => (secrets.length > 1 ? `fastAuth.sessionSecret[${index}]` : 'fastAuth.sessionSecret')).join(', ');
        findings.push(securityFinding('fast_auth_secret_not_accepted', `The session middleware does not accept cookies signed with ${which} (of ${secrets.length})`));
      }
    }
    for (const secret of options.fastAuth?.sessionSecrets ?? []) {
      const weakness = secretWeakness(secret);
      if (!weakness) continue;
      if (weakness.kind === 'default' && findings.some((finding) => finding.code === 'session_secret_default')) continue;
      findings.push(securityFinding(weakness.kind === 'default' ? 'session_secret_default' : 'session_secret_weak', `The session secret given as fastAuth.sessionSecret is ${weakness.reason}`));
    }
    const several = this.severalWorkers();
    if (several) {
      const workers = options.workers !== undefined ? `${options.workers} workers (option workers)` : 'the workers of node:cluster';
      if (session?.storeName === 'MemoryStore') findings.push(securityFinding('session_store_in_memory', `Sessions are kept in express-session's MemoryStore while ${workers} serve the app`));
      if (this.stateStore instanceof InMemoryStateStore) findings.push(securityFinding('state_store_in_memory', `Client states are kept in an InMemoryStateStore while ${workers} serve the app`));
      if (!options.redisUrl && !options.redisCluster) findings.push(securityFinding('workers_without_redis', `redisUrl is not set while ${workers} serve the app`));
    }
    findings.push(...(await this.redisMemoryFindings()));
    const cluster = options.redisCluster;
    const clusterPassword = typeof cluster?.defaults?.['password'] === 'string' && cluster.defaults['password'] !== '';
    const open = redisWithoutPassword([options.redisUrl, options.sessionStore?.redisUrl, ...(cluster && !clusterPassword ? cluster.rootNodes : [])]);
    if (open.length > 0) {
      findings.push(securityFinding('redis_without_password', `The module reaches Redis at ${open.join(', ')} without a password, so that Redis lets anyone in`));
    }
    if (this.passportBeforeRequestTarget()) {
      findings.push(securityFinding('request_target_unguarded', "passport's middleware is mounted with app.use, and RequestTargetMiddleware is not mounted before it"));
    }
    if (this.expressTrustsEveryProxy()) {
      findings.push(securityFinding('express_trust_proxy_any', "Express's trust proxy is true: req.ip is the leftmost X-Forwarded-For entry, which the client writes"));
    }
    if (options.corsOrigins === true) findings.push(securityFinding('origin_allowlist_off', 'corsOrigins is true: every origin may use the event socket and the cookie handoff with credentials'));
    const cors = await this.probeHttpCors();
    if (cors) findings.push(securityFinding('http_cors_any_origin', `The app's CORS middleware answers an unlisted origin with Access-Control-Allow-Origin: ${cors.allowOrigin === '*' ? '*' : 'that origin'} and Access-Control-Allow-Credentials: true`));
    if (options.devtools) findings.push(securityFinding('devtools_enabled', `Devtools are on at ${options.devtools.path}`));
    if (options.fastAuth && options.eventCache.ttlSeconds > FAST_AUTH_TTL_THRESHOLD_SECONDS) {
      findings.push(securityFinding('fast_auth_ttl_long', `Fast auth is on with eventCache.ttlSeconds ${options.eventCache.ttlSeconds} (more than ${FAST_AUTH_TTL_THRESHOLD_SECONDS})`));
    }
    if (!options.production) findings.push(securityFinding('error_detail_exposed', 'production is false: clients receive exception messages'));
    if (options.maxMessageBytes > MAX_MESSAGE_BYTES_THRESHOLD) {
      findings.push(securityFinding('max_message_bytes_high', `maxMessageBytes is ${options.maxMessageBytes} (more than ${MAX_MESSAGE_BYTES_THRESHOLD})`));
    }
    return findings;
  }

  /**
   * The Redis of a {@link RedisStateStore}: a `maxmemory` (without it nothing bounds what clients leave, and the
   * store's `'auto'` limit has nothing to work from) and `noeviction` (an evicting Redis deletes locks, states and
   * sessions when full); on a Redis Cluster, of each master. Nothing when Redis is down or refuses `INFO` at startup.
   */
  private async redisMemoryFindings(): Promise<SecurityFinding[]> {
    if (!(this.stateStore instanceof RedisStateStore)) return [];
    const settings = await this.stateStore.memorySettings();
    if (!settings) return [];
    const findings: SecurityFinding[] = [];
    const several = settings.servers.length > 1;
    const which = (names: string[]) => (several ? `The Redis Cluster master${names.length > 1 ? 's' : ''} ${names.join(', ')} of the state store` : "The state store's Redis");
    const unbounded = settings.servers.filter((server) => server.maxmemory === 0).map((server) => server.name);
    if (unbounded.length > 0 && typeof settings.limitBytes !== 'number') {
      const limit = settings.limitBytes === false ? 'redisMemoryLimitBytes is false' : "the state store's limit (redisMemoryLimitBytes: 'auto', 80% of maxmemory) is off";
      findings.push(securityFinding('redis_maxmemory_unset', `${which(unbounded)} ${unbounded.length > 1 ? 'have' : 'has'} no maxmemory, and ${limit}`));
    }
    const evicting = settings.servers.filter((server) => server.policy !== '' && server.policy !== 'noeviction');
    if (evicting.length > 0) {
      const policies = [...new Set(evicting.map((server) => server.policy))].join(', ');
      findings.push(securityFinding('redis_evicts_keys', `${which(evicting.map((server) => server.name))} ${evicting.length > 1 ? 'have' : 'has'} maxmemory-policy ${policies}`));
    }
    return findings;
  }

  /** Several processes serve the app: the `workers` option says so, or this process is a `node:cluster` worker. */
  private severalWorkers(): boolean {
    return (this.options.workers ?? 1) > 1 || (this.options.workers === undefined && cluster.isWorker);
  }

  /**
   * Express's `trust proxy` set to `true`: every hop is trusted, so `req.ip` is the first `X-Forwarded-For` entry,
   * which the client itself sends (a proxy appends to it). Set in `main.ts` before `listen`, so known by now.
   */
  private expressTrustsEveryProxy(): boolean {
    const app = this.adapterHost?.httpAdapter?.getInstance?.() as ExpressLike | undefined;
    return typeof app?.get === 'function' && app.get('trust proxy') === true;
  }

  /**
   * Whether the app's Express stack runs passport's middleware (`passport.session()` and `passport.authenticate(...)`
   * are functions named `authenticate`) with no {@link RequestTargetMiddleware} before it: a request for `*` then
   * skips express-session, and passport throws.
   */
  private passportBeforeRequestTarget(): boolean {
    const guard = this.requestTarget?.use;
    for (const handle of this.appMiddleware()) {
      if (handle === guard) return false;
      if (handle.name === 'authenticate') return true;
    }
    return false;
  }

  /** The app's Express middleware (`app.use`), when the HTTP adapter is Express. */
  private appMiddleware(): RequestHandler[] {
    const app = this.adapterHost?.httpAdapter?.getInstance?.() as ExpressLike | undefined;
    const stack = app?.router?.stack ?? app?._router?.stack ?? [];
    return stack.map((layer) => layer.handle).filter((handle): handle is RequestHandler => typeof handle === 'function');
  }

  /**
   * The session middleware the bridge runs (`bridge.authMiddleware`), else one the app mounted with `app.use`:
   * express-session's function is named `session`, and the probe checks that it behaves like it. A session
   * middleware wrapped in another function is reached by probing the whole `bridge.authMiddleware` chain, as the
   * bridge runs it when a socket connects.
   */
  private async probeSession(): Promise<SessionProbe | SessionProbeFailure | undefined> {
    const chain = this.options.bridge.authMiddleware ?? [];
    const appMiddleware = this.appMiddleware();
    // express-session without a secret of its own takes cookie-parser's (req.secret), which a probe run on the session
    // middleware alone does not have: its failure then says nothing about the app.
    const secretFromCookieParser = [...chain, ...appMiddleware].some((fn) => fn.name === 'cookieParser');
    const candidates = [...chain, ...appMiddleware].filter((fn) => fn.name === 'session');
    let failed: SessionProbeFailure | undefined;
    for (const candidate of new Set(candidates)) {
      const probe = await probeSessionMiddleware(candidate, this.options.fastAuth?.sessionSecrets);
      if (probe && !('failure' in probe)) return probe;
      if (probe && !secretFromCookieParser) failed ??= probe;
    }
    if (failed || chain.length === 0) return failed;
    const wholeChain: RequestHandler = (request, response, next) => {
      void Promise.resolve(runMiddlewareChain(chain, request as unknown as SyntheticRequest, response as unknown as SyntheticResponse)).then(() => next(), next);
    };
    const probe = await probeSessionMiddleware(wholeChain, this.options.fastAuth?.sessionSecrets);
    // A chain of the app's own may refuse an anonymous request on purpose: only express-session's missing secret counts.
    if (probe && 'failure' in probe) return !secretFromCookieParser && probe.failure.includes(MISSING_SECRET_MESSAGE) ? probe : undefined;
    return probe;
  }

  /** The app's CORS (`app.enableCors()`, or the `cors` package mounted with `app.use`), probed with an unlisted origin. */
  private async probeHttpCors(): Promise<{ allowOrigin: string; credentials: boolean } | undefined> {
    for (const candidate of this.appMiddleware().filter((fn) => fn.name === 'corsMiddleware')) {
      const answer = await probeCorsMiddleware(candidate);
      if (answer?.credentials) return answer;
    }
    return undefined;
  }

  /**
   * With `bridge.trustProxy`, until the first event-channel handshake (WebSocket upgrade or polling request) without
   * `X-Forwarded-For`: the proxy sets it on every request it passes, so that client reached the worker without the
   * proxy, and such a client can write its own (a new address per connection, past every per-address limit).
   * Requests outside the event path (a load balancer's or kubelet's probe of `/_health`) are no sign of it.
   */
  private watchForBypass(): void {
    const eventPath = `${this.options.path.toLowerCase()}/`;
    this.reportFirstRequest(
      (request) => request.headers['x-forwarded-for'] === undefined && (request.url ?? '').toLowerCase().startsWith(eventPath),
      (request) =>
        securityFinding(
          'trust_proxy_bypassed',
          `${request.headers.upgrade ? 'A WebSocket handshake' : 'A polling request'} of the event channel arrived without X-Forwarded-For while bridge.trustProxy is set (the client reached the worker without the proxy)`,
          'traffic',
        ),
    );
  }

  /**
   * Until the first request or handshake carrying `X-Forwarded-For`: that request came through a proxy, which the
   * bridge does not trust (`bridge.trustProxy` unset).
   */
  private watchForProxy(): void {
    this.reportFirstRequest(
      (request) => request.headers['x-forwarded-for'] !== undefined,
      (request) =>
        securityFinding('trust_proxy_unset', `${request.headers.upgrade ? 'A WebSocket handshake' : 'A request'} arrived with X-Forwarded-For (the app is behind a proxy) while bridge.trustProxy is unset`, 'traffic'),
    );
  }

  /**
   * Watches the app's HTTP requests and handshakes until the first one that `matches`, reports its finding once, then
   * removes the listeners ({@link stopWatching}).
   */
  private reportFirstRequest(matches: (request: IncomingMessage) => boolean, findingFor: (request: IncomingMessage) => SecurityFinding): void {
    const server = this.adapterHost?.httpAdapter?.getHttpServer?.() as ServerLike | undefined;
    if (!server || typeof server.on !== 'function') return;
    // Only listen to upgrades when something (Engine.IO) already does: a listener makes Node keep upgrade sockets open.
    const events = server.listenerCount('upgrade') > 0 ? ['request', 'upgrade'] : ['request'];
    const listener = (request: IncomingMessage) => {
      if (!matches(request)) return;
      this.stopWatching?.();
      const finding = findingFor(request);
      this.found.push(finding);
      this.logger.warn(describeFinding(finding));
    };
    for (const event of events) server.on(event, listener);
    this.stopWatching = () => {
      for (const event of events) server.off(event, listener);
      this.stopWatching = undefined;
    };
  }
}

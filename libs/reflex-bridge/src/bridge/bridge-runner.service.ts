import { HttpException, Inject, Injectable, Logger, type OnModuleInit, type PipeTransform, type Type } from '@nestjs/common';
import { GUARDS_METADATA, PIPES_METADATA } from '@nestjs/common/constants.js';
import { ExternalContextCreator, ModuleRef } from '@nestjs/core';
import type { RequestHandler } from 'express';
import { BridgeError, type BridgeErrorCode } from '../protocol/bridge-error.js';
import { redirect, type ClientEvent } from '../protocol/client-event.js';
import type { RouterData } from '../protocol/inbound-event.js';
import type { HandlerDefinition } from '../state/state-definition.js';
import type { StateView } from '../state/state-view.js';
import type { EventClient } from '../common/event-client.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { BridgeTierMetadata } from './bridge-tier.decorator.js';
import type { BridgeTier } from './bridge-tier.js';
import type { BridgeEventInfo, BridgeTierResolver, BridgeTierResolverFn } from './bridge-tier-resolver.js';
import { resolveTier } from './resolve-tier.js';
import { SyntheticRequest } from './synthetic-request.js';
import { SyntheticResponse } from './synthetic-response.js';
import { runMiddleware, runMiddlewareChain } from './middleware-runner.js';
import { AppState } from './app-state.js';
import { CookieHandoffService } from './cookie-handoff.service.js';
import { EventCacheService } from '../cache/event-cache.service.js';
import type { AuthSnapshot } from '../cache/event-cache.options.js';
import { BridgeMetrics } from '../metrics/bridge-metrics.service.js';
import type { EventTimer } from '../metrics/event-timer.js';
import { syncAppState } from './app-state-sync.js';
import { FastAuth, FastAuthRequest, type FastAuthResult } from './fast-auth.js';
import { contextOf } from './event-context.js';
import { cookieNames, mergeSetCookies } from './cookie-header.js';
import { then, tryCatch, type MaybePromise } from '../common/maybe-promise.js';

/**
 * Frontend event a client answers by redeeming a cookie handoff over HTTP. Payload `{ url, secret }`: the client
 * POSTs to `url` with the headers `X-Reflex-Handoff: <secret>` and `Reflex-Client-Token: <its token>`.
 */
export const SESSION_COOKIE_EVENT = '_bridge_session_cookie';

/** The result of running an event's tier, handed back to the bridge after the handler. */
export interface BridgeOutcome {
  tier: BridgeTier;
  request?: SyntheticRequest;
  response?: SyntheticResponse;
  /** Set when a middleware answered with a redirect: the event stops and the client navigates. */
  redirect?: ClientEvent;
  /** The cookie header the request was built with (to tell later whether the session cookie changed). */
  cookieHeader?: string;
  /** True when fast auth answered instead of the middleware. */
  fastPath?: boolean;
  /** The session id and user presence right after the auth chain, to notice logouts. */
  sessionIdBefore?: string;
  hadUser?: boolean;
  /** Per-phase timing, when metrics are on. */
  timer?: EventTimer;
}

type EnhancedHandler = (request: SyntheticRequest, response: SyntheticResponse) => Promise<unknown>;

/**
 * The bridge tiers: picks the tier of each event, builds the synthetic request, runs that tier's middleware
 * and (on `full`) the handler's Nest guards, interceptors and exception filters, keeps `AppState`'s auth
 * snapshot fresh, and hands changed session cookies back to the browser over HTTP.
 */
@Injectable()
export class BridgeRunner implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridge');
  private resolver?: (stateClass: Type, event: BridgeEventInfo) => unknown;
  private readonly enhanced = new Map<HandlerDefinition, EnhancedHandler>();
  private readonly pipes = new Map<HandlerDefinition, PipeTransform[]>();
  private readonly tiers = new Map<HandlerDefinition, { handlerTier?: BridgeTier; classTier?: BridgeTier; bridgeAware: boolean; uploadHandler: boolean }>();
  /** Per handler, its tier for ordinary and upload events, when no resolver can change the answer. */
  private readonly staticTiers = new Map<HandlerDefinition, { plain: BridgeTier; upload: BridgeTier }>();
  /** The cookie header each socket presents now: the handshake's, updated when an event changes the session. */
  private readonly cookieHeaders = new WeakMap<EventClient, string>();
  private fullChainCache?: readonly RequestHandler[];
  /** Fast auth; `null` once known to be off. */
  private fastAuthInstance?: FastAuth | null;

  /**
   * Told, after each run of the auth middleware, which session a socket is in and which session store
   * served it (set by the session tracker, which follows logouts).
   */
  onSessionSeen?: (client: EventClient, sessionId: string | undefined, store: unknown) => void;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly moduleRef: ModuleRef,
    private readonly contextCreator: ExternalContextCreator,
    private readonly handoffs: CookieHandoffService,
    private readonly cache: EventCacheService,
    private readonly metrics: BridgeMetrics,
  ) {}

  async onModuleInit(): Promise<void> {
    const resolver = this.options.bridge.resolver;
    if (!resolver) return;
    if (typeof resolver === 'function' && typeof (resolver.prototype as Partial<BridgeTierResolver> | undefined)?.resolve === 'function') {
      const instance = await this.moduleRef.create(resolver as Type<BridgeTierResolver>);
      this.resolver = (stateClass, event) => instance.resolve(stateClass, event);
    } else {
      this.resolver = resolver as BridgeTierResolverFn;
    }
  }

  /**
   * Warns at startup about handlers whose guards, interceptors or filters will not run because their tier
   * (before any resolver) is not `full`: only the full tier applies Nest enhancers.
   */
  auditEnhancers(handlers: Iterable<HandlerDefinition>): void {
    for (const handler of handlers) {
      const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
      const enhanced = ['__guards__', '__interceptors__', '__exceptionFilters__'].some(
        (key) => Reflect.getMetadata(key, handler.state.cls)?.length || Reflect.getMetadata(key, method)?.length,
      );
      if (!enhanced) continue;
      const tier = resolveTier({ ...this.staticTierInputs(handler), mode: this.options.bridge.mode, upload: false });
      if (tier !== 'full') {
        this.logger.warn(`${handler.fullName} has guards, interceptors or filters but runs on the "${tier}" tier, which does not apply them.`);
      }
    }
  }

  /** The tier `handler` runs on for an event from `pathname`. */
  tierFor(handler: HandlerDefinition, pathname: string): BridgeTier {
    const upload = pathname.startsWith('/_upload') || this.staticTierInputs(handler).uploadHandler;
    if (!this.resolver) {
      // Without a resolver the answer depends on the handler and `upload` only: work it out once per pair.
      const tiers = this.staticTiers.get(handler) ?? this.staticTiersOf(handler);
      return upload ? tiers.upload : tiers.plain;
    }
    let resolverAnswer: unknown;
    try {
      resolverAnswer = this.resolver(handler.state.cls, { name: handler.fullName, handler: handler.method, pathname, upload });
    } catch (error) {
      this.logger.warn(`The bridge tier resolver threw for ${handler.fullName}; falling through: ${(error as Error).message}`);
    }
    return resolveTier({ resolverAnswer, ...this.staticTierInputs(handler), mode: this.options.bridge.mode, upload });
  }

  private staticTiersOf(handler: HandlerDefinition): { plain: BridgeTier; upload: BridgeTier } {
    const inputs = { ...this.staticTierInputs(handler), mode: this.options.bridge.mode };
    const tiers = { plain: resolveTier({ ...inputs, upload: inputs.uploadHandler }), upload: resolveTier({ ...inputs, upload: true }) };
    this.staticTiers.set(handler, tiers);
    return tiers;
  }

  /**
   * Runs the tier's chain for one event: nothing on `none`; on `auth_only` the fast-auth path when it has a
   * fresh snapshot, else the session and auth middleware; on `full` all middleware. A middleware answer
   * short-circuits (a redirect, or an error).
   */
  run(handler: HandlerDefinition, routerData: RouterData, client: EventClient, timer?: EventTimer): MaybePromise<BridgeOutcome> {
    const pathname = typeof routerData.pathname === 'string' ? routerData.pathname : '/';
    const tierStart = timer ? performance.now() : 0;
    const tier = this.tierFor(handler, pathname);
    if (timer) {
      timer.tier = tier;
      timer.add('tier', performance.now() - tierStart);
    }
    // `none` binds nothing: answered synchronously, so the event can stay on the synchronous path.
    if (tier === 'none') return { tier, timer };
    return this.runChain(tier, handler, pathname, routerData, client, timer);
  }

  /**
   * The `auth_only` and `full` tiers: builds the request and runs fast auth or the tier's middleware.
   * Synchronous when fast auth answers from the in-memory cache with a synchronous `loadUser`, so such an
   * event stays on the synchronous path like a `none` one.
   */
  private runChain(tier: BridgeTier, handler: HandlerDefinition, pathname: string, routerData: RouterData, client: EventClient, timer?: EventTimer): MaybePromise<BridgeOutcome> {
    const fastAuth = tier === 'auth_only' ? this.fastAuth() : undefined;
    const { request, cookieHeader } = this.buildRequest(client, pathname, routerData.query ?? {}, routerData.ip, fastAuth !== undefined);
    const response = new SyntheticResponse();
    const outcome: BridgeOutcome = { tier, request, response, cookieHeader, timer };
    if (!fastAuth) return this.runTierMiddleware(outcome, request, response, timer);

    const start = timer ? performance.now() : 0;
    const authChain = this.authChain;
    const fast = tryCatch<FastAuthResult | undefined>(
      () => fastAuth.authenticate(request as FastAuthRequest, () => runMiddleware(authChain, request, response)),
      (error) => {
        this.logger.warn(`Fast auth failed for ${handler.fullName}; using the middleware: ${(error as Error).message}`);
        return undefined;
      },
    );
    return then(fast, (result) => {
      if (result) this.metrics.cacheLookup(result.hit);
      if (!result?.hit) return this.runTierMiddleware(outcome, request, response, timer);
      timer?.add('fast_auth', performance.now() - start);
      // Filled in place: spreading the outcome into a new object costs about 1 µs per key.
      outcome.fastPath = true;
      outcome.sessionIdBefore = result.sessionId;
      outcome.hadUser = request.user !== undefined;
      return outcome;
    });
  }

  /** Runs the tier's middleware chain on the request; a middleware answer becomes a redirect or an error. */
  private runTierMiddleware(outcome: BridgeOutcome, request: SyntheticRequest, response: SyntheticResponse, timer?: EventTimer): MaybePromise<BridgeOutcome> {
    const start = timer ? performance.now() : 0;
    const chain = outcome.tier === 'auth_only' ? this.authChain : this.fullChain;
    return then(runMiddlewareChain(chain, request, response), (ran) => {
      timer?.add('middleware', performance.now() - start);
      if (ran === 'answered') {
        const redirectTo = this.redirectTarget(response);
        if (redirectTo === undefined) throw this.errorFromResponse(response, 'A middleware refused the event.');
        outcome.redirect = redirect(redirectTo);
        return outcome;
      }
      // Logouts on the bridged request (req.logout / req.session.destroy) drop the session's snapshot.
      this.cache.watchLogout(request as never);
      outcome.sessionIdBefore = request.sessionID;
      outcome.hadUser = request.user !== undefined;
      return outcome;
    });
  }

  /** The `auth_only` chain: `bridge.authMiddleware`. */
  private get authChain(): readonly RequestHandler[] {
    return this.options.bridge.authMiddleware ?? NO_MIDDLEWARE;
  }

  /** The `full` chain: auth then full middleware, joined once. */
  private get fullChain(): readonly RequestHandler[] {
    return (this.fullChainCache ??= [...this.authChain, ...(this.options.bridge.fullMiddleware ?? [])]);
  }

  /** Fast auth, when configured and the event cache is on; created on first use. */
  private fastAuth(): FastAuth | undefined {
    if (this.fastAuthInstance === undefined) {
      this.fastAuthInstance = this.options.fastAuth && this.cache.enabled ? new FastAuth(this.options.fastAuth, this.cache) : null;
    }
    return this.fastAuthInstance ?? undefined;
  }

  /**
   * Runs the session and auth middleware for a socket outside any event (at connect, and to re-authenticate
   * it after its session ended), so the bridge learns its session. Nothing is saved: the response is never
   * ended. Returns the request, or undefined when no auth middleware is configured.
   */
  async authenticate(client: EventClient): Promise<SyntheticRequest | undefined> {
    const chain = this.options.bridge.authMiddleware ?? [];
    if (chain.length === 0) return undefined;
    const { request } = this.buildRequest(client, '/', {}, this.clientIp(client));
    await runMiddleware(chain, request, new SyntheticResponse());
    this.onSessionSeen?.(client, request.sessionID, request.sessionStore);
    return request;
  }

  /**
   * On the `full` tier, runs the `@UsePipes` pipes of the state class and the handler over each payload
   * argument (metadata type `body`, the parameter's declared type as `metatype`), as Nest does for a
   * controller's `@Body()`. A pipe's HttpException becomes the matching structured error.
   */
  applyPipes(outcome: BridgeOutcome, handler: HandlerDefinition, args: unknown[]): MaybePromise<unknown[]> {
    if (outcome.tier !== 'full') return args;
    return then(this.pipesFor(handler), (pipes) => (pipes.length === 0 ? args : this.runPipes(pipes, handler, args)));
  }

  private async runPipes(pipes: PipeTransform[], handler: HandlerDefinition, args: unknown[]): Promise<unknown[]> {
    const params = handler.params.length ? handler.params : [{ index: 0, kind: 'payload' as const, key: undefined }];
    const piped = [...args];
    try {
      for (const param of params) {
        if (param.kind !== 'payload') continue;
        for (const pipe of pipes) {
          piped[param.index] = await pipe.transform(piped[param.index], { type: 'body', metatype: handler.paramTypes[param.index] as Type, data: param.key });
        }
      }
    } catch (error) {
      throw error instanceof HttpException ? this.errorFromHttpException(error) : error;
    }
    return piped;
  }

  /** The handler's pipe instances: looked up once (asynchronously), then answered synchronously. */
  private pipesFor(handler: HandlerDefinition): MaybePromise<PipeTransform[]> {
    return this.pipes.get(handler) ?? this.loadPipes(handler);
  }

  private async loadPipes(handler: HandlerDefinition): Promise<PipeTransform[]> {
    const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
    const declared = [...((Reflect.getMetadata(PIPES_METADATA, handler.state.cls) as unknown[]) ?? []), ...((Reflect.getMetadata(PIPES_METADATA, method) as unknown[]) ?? [])];
    const pipes = await Promise.all(
      declared.map((pipe) => {
        if (typeof pipe !== 'function') return pipe as PipeTransform;
        // A pipe class: the app's provider when there is one, else an instance with its dependencies.
        try {
          return this.moduleRef.get(pipe as Type<PipeTransform>, { strict: false });
        } catch {
          return this.moduleRef.create(pipe as Type<PipeTransform>);
        }
      }),
    );
    this.pipes.set(handler, pipes);
    return pipes;
  }


  /**
   * Calls the handler: through the Nest enhancers on `full`, directly otherwise (returning whatever the
   * method returns, so a synchronous handler keeps the event synchronous).
   */
  invoke(outcome: BridgeOutcome, handler: HandlerDefinition, target: object, args: unknown[]): unknown {
    if (outcome.tier !== 'full' || !outcome.request || !outcome.response) {
      const method = handler.state.cls.prototype[handler.method] as (...params: unknown[]) => unknown;
      if (!outcome.timer) return method.apply(target, args);
      return outcome.timer.measure('handler', () => method.apply(target, args));
    }
    return this.invokeEnhanced(outcome, handler, outcome.request, outcome.response);
  }

  /** The `full` tier's call: through the handler's guards, interceptors and exception filters. */
  private invokeEnhanced(outcome: BridgeOutcome, handler: HandlerDefinition, request: SyntheticRequest, response: SyntheticResponse): Promise<unknown> {
    // An exception filter that answered on the synthetic response decides what the client is told, even
    // when Nest rethrows (a filter returning nothing counts as "not handled" in external contexts).
    const answeredByFilter = () => response.finished && response.statusCode >= 400;
    const start = outcome.timer ? performance.now() : 0;
    let called: Promise<unknown>;
    try {
      // Nest's handler is async already: one `.then` on its promise instead of an async wrapper around it
      // (each promise costs extra once AsyncLocalStorage is in use).
      called = Promise.resolve(this.enhancedHandler(handler)(request, response));
    } catch (error) {
      called = Promise.reject(error as Error);
    }
    return called.then(
      (result) => {
        if (outcome.timer) {
          // The wrapper stamped when Nest let the call through: before that is guards and interceptors.
          const entered = contextOf(request)?.handlerEnteredAt ?? start;
          outcome.timer.add('guards', entered - start);
          outcome.timer.add('handler', performance.now() - entered);
        }
        if (answeredByFilter()) throw this.errorFromResponse(response, 'The event was refused.');
        return result;
      },
      (error: unknown) => {
        if (answeredByFilter()) throw this.errorFromResponse(response, 'The event was refused.');
        throw error instanceof HttpException ? this.errorFromHttpException(error) : error;
      },
    );
  }

  /** Before each step is committed: refresh an `AppState`'s snapshot and mirror vars from the live request. */
  afterStep(outcome: BridgeOutcome, view: StateView): void {
    if (outcome.request && view.target instanceof AppState) syncAppState(view.target, outcome.request, this.options);
  }

  /**
   * Ends the synthetic response (so session middleware saves the session) and, when the session cookie
   * changed (login, logout, regeneration), moves the new cookie to this socket's later events and sends the
   * client a single-use token to fetch the `Set-Cookie` over HTTP.
   */
  finish(outcome: BridgeOutcome, client: EventClient): MaybePromise<void> {
    // Nothing to end on `none`: stay synchronous.
    if (!outcome.response) return;
    return this.finishResponse(outcome, outcome.response, client);
  }

  private finishResponse(outcome: BridgeOutcome, response: SyntheticResponse, client: EventClient): MaybePromise<void> {
    return then(this.updateSnapshot(outcome), () => {
      if (outcome.request && !outcome.fastPath) this.onSessionSeen?.(client, outcome.request.sessionID, outcome.request.sessionStore);
      if (!response.finished) {
        // Usually the end is synchronous (nothing to save, or no session middleware on the fast path); only
        // a session middleware that saves first (express-session's wrapped `end`) makes this wait. 'finish'
        // is emitted when the response becomes finished, so listening after `end()` misses nothing.
        response.end();
        if (!response.finished) {
          return new Promise<void>((resolve, reject) =>
            response.once('finish', () => {
              try {
                resolve(this.handOffCookies(outcome, response, client));
              } catch (error) {
                reject(error as Error);
              }
            }),
          );
        }
      }
      return this.handOffCookies(outcome, response, client);
    });
  }

  /** When the response changed the socket's cookies: keeps them for its later events and starts the handoff. */
  private handOffCookies(outcome: BridgeOutcome, response: SyntheticResponse, client: EventClient): MaybePromise<void> {
    const setCookies = response.setCookies();
    if (setCookies.length === 0) return;
    const before = outcome.cookieHeader ?? '';
    const after = mergeSetCookies(before, setCookies);
    if (after === before) return;
    this.cookieHeaders.set(client, after);
    const presented = outcome.request?.cookies ?? {};
    const expected: Record<string, string | undefined> = {};
    for (const name of cookieNames(setCookies)) expected[name] = presented[name];
    // The secret travels over this socket only; the tab sends it back in a header with its token.
    return this.handoffs.issue(setCookies, expected, client.token ?? '').then(({ id, secret }) => {
      client.emitUpdate({ events: [{ name: SESSION_COOKIE_EVENT, payload: { url: `${this.options.cookieHandoffPath}/${id}`, secret } }] });
    });
  }

  /**
   * After an event that ran the auth chain: a logout (the user went away, or the session id changed)
   * invalidates the old session's snapshot; otherwise the current snapshot is written for fast auth.
   * Synchronous with the in-memory cache.
   */
  private updateSnapshot(outcome: BridgeOutcome): MaybePromise<void> {
    const request = outcome.request;
    if (!request || !this.cache.enabled) return;
    let sessionId: string | undefined;
    try {
      sessionId = request.sessionID;
    } catch {
      return;
    }
    const before = outcome.sessionIdBefore;
    const loggedOut = before !== undefined && before !== '' && (before !== sessionId || (outcome.hadUser === true && request.user === undefined));
    // Snapshots only serve fast auth: without it, keep the cache out of the event path.
    const snapshot = !outcome.fastPath && sessionId && this.options.fastAuth ? this.snapshotOf(request) : undefined;
    const write = () => (snapshot ? this.cache.put(sessionId!, snapshot) : undefined);
    return loggedOut ? this.cache.invalidate(before, 'logout').then(write) : write();
  }

  /** The snapshot to keep for a request's user; undefined for a user without an id, whom fast auth could not rebuild. */
  private snapshotOf(request: SyntheticRequest): AuthSnapshot | undefined {
    const user = request.user as Record<string, unknown> | undefined;
    const userId = user ? (this.options.fastAuth?.userIdOf?.(user) ?? (user.id as string | number | undefined)) : null;
    if (userId === undefined) return undefined;
    return { userId, isAuthenticated: user !== undefined };
  }

  /** The synthetic request for a socket: its handshake headers with its current cookie header. */
  private buildRequest(
    client: EventClient,
    path: string,
    query: Record<string, unknown>,
    ip: string,
    fastAuth = false,
  ): { request: SyntheticRequest; cookieHeader: string } {
    const cookieHeader = this.cookieHeaders.get(client) ?? client.headers.cookie ?? '';
    // A copy per request (about 0.1 µs): middleware may change `req.headers`, and must not change the socket's.
    const headers = { ...client.headers };
    if (cookieHeader) headers.cookie = cookieHeader;
    else delete headers.cookie;
    const init = {
      path,
      query,
      headers,
      ip,
      remoteAddress: client.remoteAddress,
      secure: this.options.bridge.trustProxy === true && headers['x-forwarded-proto'] === 'https',
    };
    // A request that may take the fast path carries the lazy session (see FastAuthRequest).
    const request = fastAuth ? new FastAuthRequest(init) : new SyntheticRequest(init);
    return { request, cookieHeader };
  }

  /**
   * The client IP: with a trusted proxy, the last `X-Forwarded-For` entry (the address the proxy itself saw;
   * earlier entries come from the client and can be forged), else the peer address.
   */
  clientIp(client: EventClient): string {
    const forwarded = client.headers['x-forwarded-for'];
    if (this.options.bridge.trustProxy && forwarded) return forwarded.split(',').at(-1)!.trim();
    return client.remoteAddress;
  }

  /** Forgets what the bridge kept for a socket (its updated cookie header). */
  forget(client: EventClient): void {
    this.cookieHeaders.delete(client);
  }

  private staticTierInputs(handler: HandlerDefinition) {
    let inputs = this.tiers.get(handler);
    if (!inputs) {
      // Built-in handlers (such as live_subscribe) have no method: only their class's settings apply.
      const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
      const cls = handler.state.cls;
      inputs = {
        uploadHandler: handler.options.upload === true || handler.method.toLowerCase().includes('upload'),
        handlerTier: Reflect.getMetadata(BridgeTierMetadata.KEY, method) as BridgeTier | undefined,
        // Own metadata only: a class's tier is not inherited (reflex-django reads `_rx_bridge` from the class itself).
        classTier: Reflect.getOwnMetadata(BridgeTierMetadata.KEY, cls) as BridgeTier | undefined,
        bridgeAware:
          cls.prototype instanceof AppState ||
          handler.params.some((param) => param.kind !== 'payload') ||
          Boolean(Reflect.getMetadata(GUARDS_METADATA, cls)?.length) ||
          Boolean(Reflect.getMetadata(GUARDS_METADATA, method)?.length),
      };
      this.tiers.set(handler, inputs);
    }
    return inputs;
  }

  /**
   * The handler wrapped by Nest's external context (guards, interceptors, exception filters), created once
   * per handler. Nest calls the wrapper on the Nest singleton; the wrapper calls the real method on this
   * event's state view, found through the context the request carries, with the arguments the pipeline
   * resolved.
   */
  private enhancedHandler(handler: HandlerDefinition): EnhancedHandler {
    let enhanced = this.enhanced.get(handler);
    if (!enhanced) {
      const original = handler.state.cls.prototype[handler.method] as (...params: unknown[]) => unknown;
      // Nest calls the wrapper with the execution context's arguments (request, response): the request
      // carries this event's context, so no async context is needed to find the view and arguments.
      const wrapper = function (this: unknown, ...callArgs: unknown[]) {
        const context = contextOf(callArgs[0] as object);
        if (!context?.target) throw new Error('ReflexBridge: handler invoked outside an event');
        context.handlerEnteredAt = performance.now();
        return original.apply(context.target, context.args ?? []);
      };
      Object.defineProperty(wrapper, 'name', { value: original.name });
      // Guards and interceptors read metadata from the handler (`context.getHandler()`): copy it over.
      for (const key of Reflect.getMetadataKeys(original)) Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapper);
      enhanced = this.contextCreator.create(
        handler.state.instance as Record<string, unknown>,
        wrapper,
        handler.method,
        undefined,
        undefined,
        undefined,
        undefined,
        { guards: true, interceptors: true, filters: true },
        'http',
      ) as EnhancedHandler;
      this.enhanced.set(handler, enhanced);
    }
    return enhanced;
  }

  private redirectTarget(response: SyntheticResponse): string | undefined {
    const location = response.getHeader('location');
    if (typeof location === 'string' && this.options.bridge.redirectStatuses.includes(response.statusCode)) return location;
    return undefined;
  }

  private errorFromResponse(response: SyntheticResponse, fallback: string): BridgeError {
    const body = response.body;
    let message = fallback;
    if (typeof body === 'string' && body.length > 0 && body.length < 500) message = body;
    else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') message = (body as { message: string }).message;
    return new BridgeError(codeForStatus(response.statusCode), message, undefined, response.statusCode);
  }

  private errorFromHttpException(error: HttpException): BridgeError {
    return new BridgeError(codeForStatus(error.getStatus()), error.message, undefined, error.getStatus());
  }
}

const NO_MIDDLEWARE: readonly RequestHandler[] = Object.freeze([]);

/** The error code clients get for an HTTP status a guard, filter, middleware or HttpException produced. */
function codeForStatus(status: number): BridgeErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 400 || status === 422) return 'invalid_payload';
  return 'handler_error';
}

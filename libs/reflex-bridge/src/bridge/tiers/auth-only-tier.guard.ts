import { Inject, Injectable, Logger, type ExecutionContext } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { isPromise, type MaybePromise } from '../../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { EventCacheService } from '../../cache/event-cache.service.js';
import { BridgeMetrics } from '../../metrics/bridge-metrics.service.js';
import { phaseEnd, phaseStart } from '../bridge-timing.js';
import { FastAuth, FastAuthRequest, type FastAuthResult } from '../session/fast-auth.js';
import { runMiddleware } from '../request/middleware-runner.js';
import { MiddlewareTierGuard } from './middleware-tier.guard.js';
import { SessionHandoff } from '../session/session-handoff.service.js';
import type { SyntheticResponse } from '../request/synthetic-response.js';
import type { DeadlineQueue } from '../../common/deadline-queue.js';
import { outcomeOf, type TierEvent } from './tier-execution-context.js';
import { authMaxAgeMsOf } from './auth-max-age.decorator.js';

/**
 * The `auth_only` tier: the fast-auth path when it has a fresh snapshot for the session cookie (read from the
 * session no longer ago than the handler's `@AuthMaxAge`, when it has one), else `bridge.authMiddleware` on the
 * event's synthetic request. Synchronous when fast auth answers from the in-memory cache with a synchronous
 * `loadUser`, so such an event stays on the synchronous path.
 *
 * Hooks for a subclass: `shouldSkip(context)` (let the event through running nothing), `getChain(context)`
 * (the middleware to run), `tryFastAuth(context)` (the fast path: `true` when it bound the request), and
 * `runChain(context, chain)`.
 * @publicApi
 */
@Injectable()
export class AuthOnlyTierGuard extends MiddlewareTierGuard {
  protected readonly logger = new Logger('ReflexBridge');
  /** Fast auth; `null` once known to be off. */
  private fastAuthInstance?: FastAuth | null;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions,
    session: SessionHandoff,
    protected readonly cache: EventCacheService,
    protected readonly metrics: BridgeMetrics,
  ) {
    super(options, session);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    const fast = this.tryFastAuth(context);
    if (fast === true) return true;
    if (fast === false) return this.runChain(context, this.getChain(context));
    return fast.then((hit) => hit || this.runChain(context, this.getChain(context)));
  }

  /** The middleware this tier runs: `bridge.authMiddleware`. */
  protected getChain(_context: ExecutionContext): readonly RequestHandler[] {
    return this.authChain;
  }

  /**
   * The fast-auth path, when configured: `true` when a fresh snapshot bound the request (user, session id, lazy
   * session), `false` to run the middleware. A failure is logged and counts as `false`.
   */
  protected tryFastAuth(context: ExecutionContext): boolean | Promise<boolean> {
    const fastAuth = this.fastAuth();
    if (!fastAuth) return false;
    const outcome = outcomeOf(context);
    const maxAgeMs = authMaxAgeMsOf(outcome.handler);
    // `@AuthMaxAge(0)`: no snapshot is recent enough for this handler, so the cache is not even read.
    if (maxAgeMs === 0) return false;
    const request = context.switchToHttp().getRequest<FastAuthRequest>();
    if (!(request instanceof FastAuthRequest)) return false;
    const response = context.switchToHttp().getResponse<SyntheticResponse>();
    const start = phaseStart(outcome.timer);
    const loadSession = sessionLoader(this.authChain, request, response, this.session.middlewareDeadlines);
    // The promise cases written out: a hit from the in-memory cache (the usual event) then makes no closure.
    let result: MaybePromise<FastAuthResult | undefined>;
    try {
      result = fastAuth.authenticate(request, loadSession, maxAgeMs);
    } catch (error) {
      result = this.fastAuthFailed(context, error);
    }
    if (isPromise(result)) {
      return result.then(
        (found) => this.fastAuthAnswered(outcome, start, found),
        (error: unknown) => this.fastAuthAnswered(outcome, start, this.fastAuthFailed(context, error)),
      );
    }
    return this.fastAuthAnswered(outcome, start, result);
  }

  /** What fast auth found: `true` for a hit (the request is bound), counted in the metrics either way. */
  private fastAuthAnswered(outcome: TierEvent, start: number, found: FastAuthResult | undefined): boolean {
    if (found) {
      const lookup = found.hit ? 'hit' : found.stale ? 'stale' : 'miss';
      this.metrics.cacheLookup(lookup);
      outcome.timer?.trace?.cacheLookup(lookup);
    }
    if (!found?.hit) return false;
    phaseEnd(outcome.timer, 'fast_auth', start);
    outcome.fastPath = true;
    return true;
  }

  /** A failure of fast auth is logged, and the middleware runs instead. */
  private fastAuthFailed(context: ExecutionContext, error: unknown): undefined {
    this.logger.warn(`Fast auth failed for ${context.switchToWs().getPattern()}; using the middleware: ${(error as Error).message}`);
    return undefined;
  }

  /** Fast auth, when configured and the event cache is on; created on first use. */
  private fastAuth(): FastAuth | undefined {
    if (this.fastAuthInstance === undefined) {
      this.fastAuthInstance = this.options.fastAuth && this.cache.enabled ? new FastAuth(this.options.fastAuth, this.cache) : null;
    }
    return this.fastAuthInstance ?? undefined;
  }
}

/**
 * What a fast-auth request's `loadSession()` runs: the auth chain on that request. Made here, not inline in
 * `tryFastAuth`, so the closure the request keeps holds the chain, the request and the response only, not
 * the whole event (a closure keeps every variable its function shares with other closures): a request that
 * outlives its event then holds nothing more of it.
 */
function sessionLoader(chain: readonly RequestHandler[], request: FastAuthRequest, response: SyntheticResponse, deadlines: DeadlineQueue): () => Promise<unknown> {
  return () => runMiddleware(chain, request, response, deadlines);
}

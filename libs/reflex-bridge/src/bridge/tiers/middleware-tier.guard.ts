import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { then } from '../../common/maybe-promise.js';
import { redirectForLocation } from '../../protocol/redirect-location.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { errorFromResponse, redirectTarget } from '../bridge-error-mapping.js';
import { phaseEnd, phaseStart } from '../bridge-timing.js';
import { runMiddlewareChain } from '../request/middleware-runner.js';
import { SessionHandoff } from '../session/session-handoff.service.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';
import type { SyntheticResponse } from '../request/synthetic-response.js';
import { outcomeOf } from './tier-execution-context.js';
import type { EventTrace } from '../../metrics/event-trace.js';

/** No middleware configured. */
export const NO_MIDDLEWARE: readonly RequestHandler[] = Object.freeze([]);

/**
 * What the bridged tier guards (`auth_only`, `full`) share: running a middleware chain on the event's
 * synthetic request. A middleware that answers stops the event: a redirect (a status in
 * `bridge.redirectStatuses` with a `Location`) is recorded as the event's redirect and the guard answers
 * `false`; any other answer throws the structured error its status maps to.
 * @publicApi
 */
@Injectable()
export abstract class MiddlewareTierGuard implements CanActivate {
  constructor(
    @Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedReflexBridgeOptions,
    protected readonly session: SessionHandoff,
  ) {}

  abstract canActivate(context: ExecutionContext): boolean | Promise<boolean>;

  /** Whether to let the event through without running anything (its handler then sees the bare request). */
  protected shouldSkip(_context: ExecutionContext): boolean {
    return false;
  }

  /** The `auth_only` chain: `bridge.authMiddleware`. */
  protected get authChain(): readonly RequestHandler[] {
    return this.options.bridge.authMiddleware ?? NO_MIDDLEWARE;
  }

  /**
   * Runs `chain` on the event's request: `true` when every middleware called `next()`; on an answer, the
   * redirect is recorded (`false`) or the error thrown. Synchronous when every middleware was.
   */
  protected runChain(context: ExecutionContext, chain: readonly RequestHandler[]): boolean | Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<SyntheticRequest>();
    const response = http.getResponse<SyntheticResponse>();
    const outcome = outcomeOf(context);
    const start = phaseStart(outcome.timer);
    // A snapshot of the session this chain reads expires a TTL from now (see SnapshotWriter), not from the event's end.
    outcome.sessionReadAtMs = Date.now();
    // Devtools on: each middleware is timed under its own name.
    const run = outcome.timer?.trace ? namedSteps(chain, outcome.timer.trace) : chain;
    // Bounded: a session store that stops answering must not hold this client's events for good.
    return then(runMiddlewareChain(run, request, response, this.session.middlewareDeadlines), (ran) => {
      phaseEnd(outcome.timer, 'middleware', start);
      if (ran === 'answered') return this.answered(context, response, request);
      // Logouts on the bridged request (req.logout / req.session.destroy) drop the session's snapshot.
      this.session.watchLogout(request);
      return true;
    });
  }

  /** A middleware answered: a redirect becomes the event's redirect (and `false`), anything else the error. */
  protected answered(context: ExecutionContext, response: SyntheticResponse, request?: SyntheticRequest): boolean {
    const to = redirectTarget(response, this.options.bridge.redirectStatuses);
    // The location as state.js expects it: in-app paths for the app's own origins, absolute elsewhere, history
    // replaced; a location that is not an http(s) URL is refused like any other answer.
    const event = to === undefined ? undefined : redirectForLocation(to, redirectBaseOf(request));
    if (event === undefined) throw errorFromResponse(response, 'A middleware refused the event.');
    outcomeOf(context).redirect = event;
    return false;
  }
}

/** `chain` with each middleware timed into `trace` as a `middleware` step named after its function. */
function namedSteps(chain: readonly RequestHandler[], trace: EventTrace): RequestHandler[] {
  return chain.map((middleware) => {
    const name = middleware.name || 'anonymous';
    return ((req, res, next) => {
      const start = performance.now();
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        trace.step('middleware', name, start);
      };
      // Whichever comes first ends the step: next() (the middleware let the event through) or its answer.
      res.once('finish', end);
      return (middleware as (req: unknown, res: unknown, next: unknown) => unknown)(req, res, (error?: unknown) => {
        end();
        res.off('finish', end);
        next(error);
      });
    }) as RequestHandler;
  });
}

/** The bridged request's own URL and the page's origin, for resolving a middleware's `Location`. */
function redirectBaseOf(request: SyntheticRequest | undefined): { requestUrl: string; pageOrigin?: string } {
  const host = request?.headers.host;
  const origin = request?.headers.origin;
  return {
    requestUrl: `${request?.protocol ?? 'http'}://${typeof host === 'string' ? host : 'localhost'}${request?.originalUrl ?? '/'}`,
    pageOrigin: typeof origin === 'string' ? origin : undefined,
  };
}

import type { RequestHandler } from 'express';
import type { SyntheticRequest } from './synthetic-request.js';
import type { SyntheticResponse } from './synthetic-response.js';

/** How a middleware chain ended: every middleware called `next()`, or one answered the request. */
export type MiddlewareOutcome = 'continue' | 'answered';

/**
 * Runs Express middleware in order on a synthetic request. Stops as soon as one answers (ends the
 * response without calling `next`), and rejects when one passes an error to `next(err)`.
 */
export async function runMiddleware(
  chain: readonly RequestHandler[],
  request: SyntheticRequest,
  response: SyntheticResponse,
): Promise<MiddlewareOutcome> {
  return runMiddlewareChain(chain, request, response);
}

/**
 * {@link runMiddleware} without a promise per middleware: a middleware that calls `next()` (or answers)
 * before returning, as passport's do, is followed at once; only one that finishes later (a session store
 * lookup) makes the chain wait. Answers synchronously when every middleware did; a failure always comes as
 * a rejected promise, never as a throw.
 */
export function runMiddlewareChain(
  chain: readonly RequestHandler[],
  request: SyntheticRequest,
  response: SyntheticResponse,
  from = 0,
): MiddlewareOutcome | Promise<MiddlewareOutcome> {
  for (let index = from; index < chain.length; index++) {
    if (response.finished) return 'answered';
    const step = callMiddleware(chain[index], request, response);
    if (step instanceof Promise) {
      return step.then((outcome) => (outcome === 'answered' ? 'answered' : runMiddlewareChain(chain, request, response, index + 1)));
    }
    if (step instanceof Error) return Promise.reject(step);
    if (step === 'answered') return 'answered';
  }
  return 'continue';
}

/**
 * Calls one middleware. Whichever comes first decides: `next()` (continue), `next(err)` (the error), or the
 * response finishing (answered). Settled before the middleware returned: the outcome itself; later: a
 * promise of it.
 */
function callMiddleware(middleware: RequestHandler, request: SyntheticRequest, response: SyntheticResponse): MiddlewareOutcome | Error | Promise<MiddlewareOutcome> {
  let settled: MiddlewareOutcome | Error | undefined;
  let notify: ((value: MiddlewareOutcome | Error) => void) | undefined;
  const next = (error?: unknown) => {
    if (settled !== undefined) return;
    // A response that finished before `next` was called means the middleware answered first.
    if (response.finished) settled = 'answered';
    // Express treats next('route') / next('router') as "skip", not as an error.
    else if (error && error !== 'route' && error !== 'router') settled = error instanceof Error ? error : new Error(String(error));
    else settled = 'continue';
    notify?.(settled);
  };
  try {
    const result = (middleware as unknown as (req: unknown, res: unknown, next: unknown) => unknown)(request, response, next);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, next);
  } catch (error) {
    next(error);
  }
  if (settled !== undefined) return settled;
  if (response.finished) return (settled = 'answered');
  return new Promise<MiddlewareOutcome>((resolve, reject) => {
    const onFinish = () => {
      if (settled !== undefined) return;
      settled = 'answered';
      resolve('answered');
    };
    response.once('finish', onFinish);
    notify = (value) => {
      response.off('finish', onFinish);
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
  });
}

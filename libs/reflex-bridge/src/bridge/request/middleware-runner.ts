import type { RequestHandler } from 'express';
import type { SyntheticRequest } from './synthetic-request.js';
import type { EventEmitter } from 'node:events';
import { SyntheticResponse } from './synthetic-response.js';

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

/** A middleware that has not settled yet when it returned. */
const PENDING = Symbol('pending');
type Settled = MiddlewareOutcome | Error;

/**
 * {@link runMiddleware} without a promise per middleware: a middleware that calls `next()` (or answers)
 * before returning, as passport's do, is followed at once; only one that finishes later (a session store
 * lookup) makes the chain wait, and the whole rest of the chain then runs under a single promise (each
 * promise costs extra once AsyncLocalStorage is in use). Answers synchronously when every middleware did;
 * a failure always comes as a rejected promise, never as a throw.
 */
export function runMiddlewareChain(
  chain: readonly RequestHandler[],
  request: SyntheticRequest,
  response: SyntheticResponse,
): MiddlewareOutcome | Promise<MiddlewareOutcome> {
  let done: ((value: Settled) => void) | undefined;
  // `done` is set below, before any late settlement can arrive: those come from later ticks only.
  const outcome = runFrom(chain, 0, request, response, (value) => done!(value));
  if (outcome === PENDING) {
    return new Promise<MiddlewareOutcome>((resolve, reject) => {
      done = (value) => (value instanceof Error ? reject(value) : resolve(value));
    });
  }
  return outcome instanceof Error ? Promise.reject(outcome) : outcome;
}

/** Runs the chain from `index`; when a middleware settles late, the rest runs from there and ends in `done`. */
function runFrom(
  chain: readonly RequestHandler[],
  index: number,
  request: SyntheticRequest,
  response: SyntheticResponse,
  done: (value: Settled) => void,
): Settled | typeof PENDING {
  for (; index < chain.length; index++) {
    if (response.finished) return 'answered';
    const current = index;
    const step = callMiddleware(chain[current], request, response, (late) => {
      if (late !== 'continue') return done(late);
      const rest = runFrom(chain, current + 1, request, response, done);
      if (rest !== PENDING) done(rest);
    });
    if (step === PENDING) return PENDING;
    if (step !== 'continue') return step;
  }
  return 'continue';
}

/**
 * Calls one middleware. Whichever comes first decides: `next()` (continue), `next(err)` (the error), or the
 * response finishing (answered). Settled before the middleware returned: the outcome itself; later: it is
 * handed to `late`.
 */
function callMiddleware(
  middleware: RequestHandler,
  request: SyntheticRequest,
  response: SyntheticResponse,
  late: (value: Settled) => void,
): Settled | typeof PENDING {
  let settled: Settled | undefined;
  let returned = false;
  const settle = (value: Settled) => {
    settled = value;
    if (!returned) return;
    stopWaitingForFinish(response, onFinish);
    late(value);
  };
  const onFinish = () => {
    if (settled === undefined) settle('answered');
  };
  const next = (error?: unknown) => {
    if (settled !== undefined) return;
    // A response that finished before `next` was called means the middleware answered first.
    if (response.finished) settle('answered');
    // Express treats next('route') / next('router') as "skip", not as an error.
    else if (error && error !== 'route' && error !== 'router') settle(error instanceof Error ? error : new Error(String(error)));
    else settle('continue');
  };
  try {
    const result = (middleware as unknown as (req: unknown, res: unknown, next: unknown) => unknown)(request, response, next);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, next);
  } catch (error) {
    next(error);
  }
  returned = true;
  if (settled !== undefined) return settled;
  if (response.finished) return (settled = 'answered');
  waitForFinish(response, onFinish);
  return PENDING;
}

/**
 * Calls `onFinish` when the response finishes. An event's synthetic response has a cheaper hook than `once('finish')`;
 * an upload's chain runs on the real HTTP response, an ordinary emitter.
 */
function waitForFinish(response: SyntheticResponse, onFinish: () => void): void {
  if (response instanceof SyntheticResponse) response.whenFinished(onFinish);
  else (response as EventEmitter).once('finish', onFinish);
}

/** Undoes {@link waitForFinish}. */
function stopWaitingForFinish(response: SyntheticResponse, onFinish: () => void): void {
  if (response instanceof SyntheticResponse) response.cancelWhenFinished(onFinish);
  else (response as EventEmitter).off('finish', onFinish);
}

import type { RequestHandler } from 'express';
import type { SyntheticRequest } from './synthetic-request.js';
import type { EventEmitter } from 'node:events';
import { SyntheticResponse } from './synthetic-response.js';
import { BridgeError } from '../../protocol/bridge-error.js';
import type { DeadlineEntry, DeadlineQueue } from '../../common/deadline-queue.js';

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
  deadlines?: DeadlineQueue,
): Promise<MiddlewareOutcome> {
  return runMiddlewareChain(chain, request, response, deadlines);
}

/**
 * The chain did not settle within its time limit (`bridge.middlewareTimeoutMs`): a session store that stopped
 * answering, most often. The event is refused; the handler does not run.
 */
function middlewareTimedOut(timeoutMs: number): BridgeError {
  return new BridgeError('session_unavailable', `The session could not be read within ${timeoutMs} ms; nothing was changed. Try again.`);
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
  deadlines?: DeadlineQueue,
): MiddlewareOutcome | Promise<MiddlewareOutcome> {
  const run = new ChainRun(chain, request, response);
  const outcome = run.from(0);
  if (outcome === PENDING) {
    // Set before any late settlement can arrive: those come from later ticks only.
    const pending = new Promise<MiddlewareOutcome>((resolve, reject) => {
      run.resolve = resolve;
      run.reject = reject;
    });
    if (deadlines === undefined) return pending;
    // Only a chain that went asynchronous is watched (the synchronous ones, passport's, fast paths, cost nothing),
    // and by the queue's one timer, not one of its own: a timer armed and cleared per event cost thousands of
    // instructions each (Node's timer lists are made and dropped with them). The run is the queue's entry itself and
    // marks it settled when it ends: no promise reaction, and no object literal per event (see ChainRun).
    run.timeoutMs = deadlines.timeoutMs;
    deadlines.track(run);
    return pending;
  }
  return outcome instanceof Error ? Promise.reject(outcome) : outcome;
}

/**
 * One run of a chain: which middleware runs, and how it settled. Whichever comes first decides for a middleware:
 * `next()` (continue), `next(err)` (the error), or the response finishing (answered); what it does after that is
 * ignored. One object per run and one `next` per middleware (as Express makes), rather than a set of closures per
 * middleware: every bridged event runs its chain.
 */
class ChainRun implements DeadlineEntry {
  /** The middleware running now (its `next` is the only one listened to). */
  private current = 0;
  /** How the current middleware settled, once it did. */
  private step: Settled | undefined = undefined;
  /** True once the current middleware returned: a settlement after that is late and carries the chain on. */
  private returned = false;
  /** Waits for the response to finish while a middleware is pending; made on the first such wait. */
  private onFinish: (() => void) | undefined = undefined;
  /** Settle the promise of a chain that went asynchronous. */
  resolve: ((outcome: MiddlewareOutcome) => void) | undefined = undefined;
  reject: ((error: Error) => void) | undefined = undefined;
  /**
   * A chain that went asynchronous is watched by a {@link DeadlineQueue} with the run itself as the entry (set by the
   * queue; 0 while not watched). Not a separate object literal per event: V8 tenured such a literal's allocation site
   * under load (its objects wait in the queue while their session is read), and each dead old entry then kept its
   * run, request and response alive through young collections, about 1.5 MB promoted per scavenge at 50 clients.
   */
  deadline = 0;
  /** The {@link DeadlineEntry} flag: the run settled its promise (or gave up), so the queue drops it unexpired. */
  settled = false;
  /** The time limit of the queue watching the run (`bridge.middlewareTimeoutMs`), for the timeout's message. */
  timeoutMs = 0;
  /** Set once the run gave up (see {@link abandon}): what the chain does later is ignored. */
  private abandoned = false;

  constructor(
    private readonly chain: readonly RequestHandler[],
    private readonly request: SyntheticRequest,
    private readonly response: SyntheticResponse,
  ) {}

  /** Runs the chain from `index`: its outcome, or {@link PENDING} when a middleware settles later (then the run ends in `resolve`/`reject`). */
  from(index: number): Settled | typeof PENDING {
    for (; index < this.chain.length; index++) {
      if (this.response.finished) return 'answered';
      const step = this.call(index);
      if (step === PENDING) return PENDING;
      if (step !== 'continue') return step;
    }
    return 'continue';
  }

  /** Calls middleware `index`: its outcome when it settled before returning, else {@link PENDING}. */
  private call(index: number): Settled | typeof PENDING {
    this.current = index;
    this.step = undefined;
    this.returned = false;
    const next = (error?: unknown) => this.next(index, error);
    try {
      const result = (this.chain[index] as unknown as (req: unknown, res: unknown, next: unknown) => unknown)(this.request, this.response, next);
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, next);
    } catch (error) {
      next(error);
    }
    this.returned = true;
    if (this.step !== undefined) return this.step;
    if (this.response.finished) return (this.step = 'answered');
    waitForFinish(this.response, (this.onFinish ??= () => this.finished()));
    return PENDING;
  }

  /** The {@link DeadlineEntry} callback: the chain did not settle within `timeoutMs`. */
  expire(): void {
    this.abandon(middlewareTimedOut(this.timeoutMs));
  }

  /**
   * Gives up on a chain still pending: the run rejects with `error`, and the pending middleware's late `next()` (or
   * answer) neither runs the rest of the chain nor settles anything, for a request whose event is over.
   */
  abandon(error: Error): void {
    if (this.abandoned || this.step !== undefined) return;
    this.abandoned = true;
    if (this.onFinish) stopWaitingForFinish(this.response, this.onFinish);
    this.reject!(error);
  }

  /** `next` of middleware `index`: ignored once that middleware settled (or the chain moved past it). */
  private next(index: number, error: unknown): void {
    if (this.abandoned || index !== this.current || this.step !== undefined) return;
    // A response that finished before `next` was called means the middleware answered first.
    if (this.response.finished) this.settle('answered');
    // Express treats next('route') / next('router') as "skip", not as an error.
    else if (error && error !== 'route' && error !== 'router') this.settle(error instanceof Error ? error : new Error(String(error)));
    else this.settle('continue');
  }

  /** The response finished while the current middleware was pending: it answered. */
  private finished(): void {
    if (this.step === undefined && !this.abandoned) this.settle('answered');
  }

  private settle(value: Settled): void {
    this.step = value;
    if (!this.returned) return;
    // Late: the chain was waiting for this middleware, and goes on (or ends) from here.
    stopWaitingForFinish(this.response, this.onFinish!);
    const outcome = value === 'continue' ? this.from(this.current + 1) : value;
    if (outcome === PENDING) return;
    this.settled = true;
    if (outcome instanceof Error) this.reject!(outcome);
    else this.resolve!(outcome);
  }
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

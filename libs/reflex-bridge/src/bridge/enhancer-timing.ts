import type { ArgumentsHost, CallHandler, CanActivate, ExceptionFilter, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { from, isObservable, tap, type Observable } from 'rxjs';
import { isThenable } from '../common/maybe-promise.js';
import type { EventTrace } from '../metrics/event-trace.js';
import { contextOf } from './request/event-context.js';

/**
 * Devtools' timing of the app's Nest enhancers on `full`: each guard, interceptor and exception filter wrapped
 * so that its run is recorded on the event's trace as a step named after its class (phases `guards`,
 * `interceptors`, `filters`). A wrapper is made once per enhancer and handler, when the handler's Nest wrapper
 * is created, and only with devtools on; it finds the event through the request Nest passes as the first
 * argument (which carries the event context), and calls the enhancer itself unchanged (same `this`, same
 * answer, same errors). Without a trace (a request that is not an event's) it only delegates.
 */

/** The devtools trace of the event an enhancer runs for: the first argument is that event's request. */
function traceOf(host: ArgumentsHost): EventTrace | undefined {
  const request = host.getArgByIndex(0) as object | null | undefined;
  return request !== null && typeof request === 'object' ? contextOf(request)?.trace : undefined;
}

/** The class name devtools show for an enhancer (an instance, or a class used as one). */
export function enhancerName(enhancer: object): string {
  if (typeof enhancer === 'function') return enhancer.name || 'anonymous';
  return (enhancer as { constructor?: { name?: string } }).constructor?.name || 'anonymous';
}

/**
 * Records the step from `start` once `answer` is settled (now for a plain value; when a promise settles or
 * an observable completes or fails) and returns an answer equivalent to `answer`.
 */
function whenSettled<T>(trace: EventTrace, phase: string, name: string, start: number, answer: T): T {
  const end = () => trace.step(phase, name, start);
  if (isObservable(answer)) return answer.pipe(tap({ complete: end, error: end })) as T;
  if (isThenable(answer)) {
    return answer.then(
      (value) => {
        end();
        return value;
      },
      (error: unknown) => {
        end();
        throw error;
      },
    ) as T;
  }
  end();
  return answer;
}

/** Calls `run`, recording the step when it throws synchronously, and when its answer settles otherwise. */
function timedCall<T>(trace: EventTrace, phase: string, name: string, run: () => T): T {
  const start = performance.now();
  let answer: T;
  try {
    answer = run();
  } catch (error) {
    trace.step(phase, name, start);
    throw error;
  }
  return whenSettled(trace, phase, name, start, answer);
}

/** An object that answers like `enhancer` (its prototype), with one method replaced. */
function derived<T extends object>(enhancer: T): T {
  return Object.create(enhancer) as T;
}

/** `guard`, with each `canActivate` timed as a `guards` step named after its class. */
export function timedGuard(guard: CanActivate): CanActivate {
  const name = enhancerName(guard);
  const wrapper = derived(guard);
  wrapper.canActivate = (context: ExecutionContext) => {
    const trace = traceOf(context);
    if (!trace) return guard.canActivate(context);
    return timedCall(trace, 'guards', name, () => guard.canActivate(context));
  };
  return wrapper;
}

/**
 * `interceptor`, timed as `interceptors` steps named after its class: its work before it calls
 * `next.handle()` (or its whole run when it never does, as a cache answering by itself), and its work on the
 * handler's answer (`<name> (after)`, from the inner answer to its own).
 */
export function timedInterceptor(interceptor: NestInterceptor): NestInterceptor {
  const name = enhancerName(interceptor);
  const after = `${name} (after)`;
  const wrapper = derived(interceptor);
  wrapper.intercept = (context: ExecutionContext, next: CallHandler) => {
    const trace = traceOf(context);
    if (!trace) return interceptor.intercept(context, next);
    const start = performance.now();
    let handled = false;
    let innerAnswered = 0;
    const answered = () => {
      if (innerAnswered === 0) innerAnswered = performance.now();
    };
    const timedNext: CallHandler = {
      handle: () => {
        if (!handled) {
          handled = true;
          trace.step('interceptors', name, start);
        }
        return next.handle().pipe(tap({ next: answered, complete: answered, error: answered }));
      },
    };
    // Its own answer (the first value, or the end) closes its step: recorded once.
    let recorded = false;
    const ended = () => {
      if (recorded) return;
      recorded = true;
      if (!handled) trace.step('interceptors', name, start);
      else if (innerAnswered !== 0) trace.step('interceptors', after, innerAnswered);
    };
    const own = (result: Observable<unknown>) => from(result).pipe(tap({ next: ended, complete: ended, error: ended }));
    let result: Observable<unknown> | Promise<Observable<unknown>>;
    try {
      result = interceptor.intercept(context, timedNext);
    } catch (error) {
      ended();
      throw error;
    }
    // Nest accepts an observable or a promise of one.
    return isThenable(result) ? Promise.resolve(result).then(own) : own(result);
  };
  return wrapper;
}

/** `filter`, with each `catch` timed as a `filters` step named after its class (only the filter that caught runs). */
export function timedFilter<T extends ExceptionFilter>(filter: T): T {
  const name = enhancerName(filter);
  const wrapper = derived(filter);
  wrapper.catch = (exception: unknown, host: ArgumentsHost) => {
    const trace = traceOf(host);
    if (!trace) return filter.catch(exception, host);
    return timedCall(trace, 'filters', name, () => filter.catch(exception, host));
  };
  return wrapper;
}

import { ForbiddenException, type CanActivate, type NestInterceptor } from '@nestjs/common';
import type { HttpArgumentsHost } from '@nestjs/common/interfaces/features/arguments-host.interface.js';
import type { ExternalContextCreator } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { isObservable, lastValueFrom } from 'rxjs';
import { isThenable, type MaybePromise } from '../common/maybe-promise.js';

/** Nest's message for a guard that answered false (`@nestjs/core`'s `FORBIDDEN_MESSAGE`). */
const FORBIDDEN_MESSAGE = 'Forbidden resource';

/** What Nest's exception-filter context makes per handler: the handler's filters (and the global ones) in one. */
interface ExceptionsHandler {
  next(exception: unknown, host: ExecutionContextHost): unknown;
}

/** The enhancers Nest resolved for one handler (global ones included), as its external context creator found them. */
export interface ResolvedEnhancers {
  guards: CanActivate[];
  interceptors: NestInterceptor[];
  exceptions: ExceptionsHandler;
}

/** The three lookups of Nest's external context creator whose results {@link EnhancerCapture} records. */
interface EnhancerCreators {
  guardsContextCreator?: { create(...args: unknown[]): unknown };
  interceptorsContextCreator?: { create(...args: unknown[]): unknown };
  filtersContextCreator?: { create(...args: unknown[]): unknown };
}

/**
 * A Nest `ExternalContextCreator` that also tells what it resolved for the handler it wrapped last: its guards,
 * interceptors and exception handler, global ones included, found exactly as Nest finds them (modules, scopes,
 * `APP_GUARD`...). It derives from `base` and replaces the three sub-creators' `create` with recorders; with
 * other Nest internals than these (`guardsContextCreator`, ...), {@link take} answers undefined and callers keep
 * Nest's own wrapper.
 */
export class EnhancerCapture {
  /** The derived creator: use it in place of `base`, then {@link take} what it resolved. */
  readonly creator: ExternalContextCreator;
  private captured: Partial<ResolvedEnhancers> = {};
  private readonly supported: boolean;

  constructor(base: ExternalContextCreator) {
    const internals = base as unknown as EnhancerCreators;
    const record = <K extends keyof ResolvedEnhancers>(creator: { create(...args: unknown[]): unknown } | undefined, key: K) => {
      if (typeof creator?.create !== 'function') return undefined;
      const derived = Object.create(creator) as { create(...args: unknown[]): unknown };
      const keep = (made: ResolvedEnhancers[K]) => (this.captured[key] = made);
      // Called on the derived object, so what Nest stores while creating (the module key) stays on it.
      derived.create = function (this: object, ...args: unknown[]) {
        return keep(creator.create.apply(this, args) as ResolvedEnhancers[K]);
      };
      return derived;
    };
    const guardsContextCreator = record(internals.guardsContextCreator, 'guards');
    const interceptorsContextCreator = record(internals.interceptorsContextCreator, 'interceptors');
    const filtersContextCreator = record(internals.filtersContextCreator, 'exceptions');
    this.supported = !!guardsContextCreator && !!interceptorsContextCreator && !!filtersContextCreator;
    this.creator = this.supported
      ? Object.assign(Object.create(base) as ExternalContextCreator, { guardsContextCreator, interceptorsContextCreator, filtersContextCreator })
      : base;
  }

  /** What the last `creator.create(...)` resolved (once), or undefined when it is not known. */
  take(): ResolvedEnhancers | undefined {
    const { guards, interceptors, exceptions } = this.captured;
    this.captured = {};
    if (!this.supported || !Array.isArray(guards) || !Array.isArray(interceptors) || typeof exceptions?.next !== 'function') return undefined;
    return { guards, interceptors, exceptions };
  }
}

/** A guard's non-boolean answer (a promise or an Observable of one), as Nest's `GuardsConsumer` reads it. */
async function pickResult(result: unknown): Promise<boolean> {
  const value = await result;
  return Boolean(isObservable(value) ? await lastValueFrom(value) : value);
}

/** Runs `guards` in order from `index`; synchronous while each answers a boolean, as Nest's `tryActivate`. */
function activate(guards: CanActivate[], context: ExecutionContextHost, index: number): MaybePromise<boolean> {
  for (let i = index; i < guards.length; i++) {
    const result = guards[i].canActivate(context);
    if (typeof result === 'boolean') {
      if (!result) return false;
      continue;
    }
    return pickResult(result).then((allowed) => (allowed ? activate(guards, context, i + 1) : false));
  }
  return true;
}

/**
 * The context a guard gets: Nest's `ExecutionContextHost`, except that `switchToHttp()` answers the context itself,
 * with `getRequest()`, `getResponse()` and `getNext()` on the prototype. Nest's assigns an object literal of three
 * closures on every call, and a guard calls it on every event: V8 pretenured that literal's site under load (`full`
 * with 50 clients), and each dead old copy kept the context, and through it the event's request and response,
 * alive through young collections, about 2 MB promoted per scavenge.
 */
class GuardExecutionContext extends ExecutionContextHost implements HttpArgumentsHost {
  override switchToHttp(): HttpArgumentsHost {
    return this;
  }

  getRequest<T = unknown>(): T {
    return this.getArgByIndex<T>(0);
  }

  getResponse<T = unknown>(): T {
    return this.getArgByIndex<T>(1);
  }

  getNext<T = unknown>(): T {
    return this.getArgByIndex<T>(2);
  }
}

/** The context each guard gets, as Nest's `GuardsConsumer` makes it. */
function guardContext(args: unknown[], classRef: object, callback: (...args: unknown[]) => unknown): ExecutionContextHost {
  const context = new GuardExecutionContext(args, classRef as never, callback);
  context.setType('http');
  return context;
}

/**
 * The handler `callback` (whose metadata the guards read) called through `resolved`'s guards and exception
 * handler the way Nest's external context calls it, for a handler without interceptors, but without Nest's
 * promises: with guards that answer booleans and a synchronous handler the call is synchronous end to end
 * (Nest's wrapper is async whatever they do: about a dozen promises per event). The same order and outcomes:
 * guards in order (`false` is a `ForbiddenException`), then the callback; an Observable result is read to its
 * last value; any error goes to the exception handler (the handler's and global `@Catch` filters, then Nest's
 * own, which logs a non-HTTP error and rethrows). Undefined when `resolved` has interceptors: those are RxJS
 * pipelines that only Nest's own wrapper runs.
 */
export function directEnhancedHandler(
  resolved: ResolvedEnhancers,
  classRef: object,
  callback: (...args: unknown[]) => unknown,
): ((...args: unknown[]) => MaybePromise<unknown>) | undefined {
  if (resolved.interceptors.length > 0) return undefined;
  const { guards, exceptions } = resolved;
  const fail = (error: unknown, args: unknown[]): unknown => {
    const host = new ExecutionContextHost(args);
    host.setType('http');
    return exceptions.next(error, host);
  };
  const finish = (result: unknown): unknown => (isObservable(result) ? lastValueFrom(result) : result);
  const call = (args: unknown[], allowed: boolean): unknown => {
    if (!allowed) throw new ForbiddenException(FORBIDDEN_MESSAGE);
    const result = callback(...args);
    return isThenable(result) ? Promise.resolve(result).then(finish) : finish(result);
  };
  return (...args: unknown[]) => {
    try {
      const allowed = guards.length === 0 ? true : activate(guards, guardContext(args, classRef, callback), 0);
      const result = isThenable(allowed) ? allowed.then((ok) => call(args, ok)) : call(args, allowed);
      return isThenable(result) ? Promise.resolve(result).catch((error: unknown) => fail(error, args)) : result;
    } catch (error) {
      return fail(error, args);
    }
  };
}

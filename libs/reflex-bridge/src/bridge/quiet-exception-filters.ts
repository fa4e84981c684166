import type { ExternalContextCreator } from '@nestjs/core';

/** Nest's per-handler exception handler in external contexts (`ExternalExceptionsHandler`), as far as used here. */
interface ExternalExceptions {
  next(exception: unknown, host: unknown): unknown;
  invokeCustomFilters?(exception: unknown, host: unknown): unknown;
}

interface FiltersCreator {
  create(...args: unknown[]): unknown;
}

/** Errors that pass the app's exception filters untouched (see {@link pastFilters}). */
const unfiltered = new WeakSet<object>();

/**
 * Marks `error` to pass the app's `@Catch` filters untouched, and answers it: the module's own refusal of a payload
 * (its type and DTO checks, run inside the handler's Nest call on `full`, after the guards). Its client is told
 * `invalid_payload` with the field details, as on every tier, rather than what a catch-all filter makes of an error
 * that is not an `HttpException` (a 500, so a `handler_error`).
 */
export function pastFilters(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) unfiltered.add(error);
  return error;
}

/**
 * `base` with exception handlers that run the app's `@Catch` filters (the handler's and the global ones) as Nest's
 * do, but rethrow what none of them handled without Nest's own `ExceptionsHandler` log line. The event pipeline logs
 * a handler's failure itself, escaped and within its limits; Nest's line came on top of it for every failed event, at
 * whatever rate a client sent them, with the error's message as it was (a message quoting the client's input could
 * write a line of its own). `base` as it is when its internals are not the ones known here.
 */
export function quietExceptionFilters(base: ExternalContextCreator): ExternalContextCreator {
  const creator = (base as unknown as { filtersContextCreator?: FiltersCreator }).filtersContextCreator;
  if (typeof creator?.create !== 'function') return base;
  const derived = Object.create(creator) as FiltersCreator;
  // Called on the derived object, so what Nest stores while creating (the module key) stays on it.
  derived.create = function (this: object, ...args: unknown[]) {
    const made = creator.create.apply(this, args) as ExternalExceptions;
    const custom = made?.invokeCustomFilters;
    if (typeof custom !== 'function') return made;
    return Object.assign(Object.create(made) as ExternalExceptions, {
      next(exception: unknown, host: unknown): unknown {
        if (unfiltered.has(exception as object)) throw exception;
        // `undefined` is Nest's "not handled": no filter caught it, or the one that did returned nothing.
        const handled = custom.call(made, exception, host);
        if (handled !== undefined) return handled;
        throw exception;
      },
    });
  };
  return Object.assign(Object.create(base) as ExternalContextCreator, { filtersContextCreator: derived });
}

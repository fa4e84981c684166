/**
 * Helpers for code that completes synchronously when it can and asynchronously when it must.
 *
 * Why: most events (tier `none`, a synchronous handler, the in-memory store, nobody else holding the lock)
 * need no I/O at all. Running them through `async` functions costs a chain of promises per event, and on
 * Node 20 each promise also pays the AsyncLocalStorage hooks once any ALS is in use. Steps written with
 * these helpers stay synchronous until one of them returns a promise, and from there on continue as
 * promises, so the same code serves both paths and behaves the same on each (order, errors, cleanup).
 */
export type MaybePromise<T> = T | Promise<T>;

/** True for a native promise (the only kind the library's own steps return). */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** True for any thenable, such as a handler's return value from another promise library. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** Calls `next` with the value: at once when it is plain, once it settles when it is a promise. */
export function then<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

/**
 * `try { return body() } finally { cleanup() }` for a body and a cleanup that may each be synchronous or
 * not: the cleanup always runs after the body has settled, and an error from the body is rethrown after it.
 */
export function tryFinally<T>(body: () => MaybePromise<T>, cleanup: () => MaybePromise<void>): MaybePromise<T> {
  let result: MaybePromise<T>;
  try {
    result = body();
  } catch (error) {
    return rethrowAfter(cleanup(), error);
  }
  if (isPromise(result)) {
    return result.then(
      (value) => valueAfter(cleanup(), value),
      (error: unknown) => rethrowAfter(cleanup(), error),
    );
  }
  // The synchronous path makes no closure: it runs for most events.
  return valueAfter(cleanup(), result);
}

/** `value`, once `done` has settled (at once when it is plain); `done`'s own failure wins. */
function valueAfter<T>(done: MaybePromise<void>, value: T): MaybePromise<T> {
  return isPromise(done) ? done.then(() => value) : value;
}

/** Throws `error` once `done` has settled (at once when it is plain); `done`'s own failure wins. */
function rethrowAfter(done: MaybePromise<void>, error: unknown): never | Promise<never> {
  if (!isPromise(done)) throw error;
  return done.then(() => {
    throw error;
  });
}

/** `try { return body() } catch (e) { return onError(e) }` for a body that may be synchronous or not. */
export function tryCatch<T>(body: () => MaybePromise<T>, onError: (error: unknown) => MaybePromise<T>): MaybePromise<T> {
  let result: MaybePromise<T>;
  try {
    result = body();
  } catch (error) {
    return onError(error);
  }
  return isPromise(result) ? result.catch(onError) : result;
}

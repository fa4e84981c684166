/** When this module was loaded: the clock's zero. */
const STARTED = Date.now();

/**
 * Milliseconds since the module was loaded, as a whole number V8 keeps as a small integer: for times kept per
 * connection or per token (a state's last use, a connection's budget window, its last refusal shown, its page load).
 *
 * Why `Math.floor` of a difference that is already whole: computed by the interpreter, as the code of a worker's
 * first thousands of connections is, `Date.now() - STARTED` is a number object of its own (16 bytes), and a field
 * that once held one keeps a number object in every object of its shape after it. `Math.floor` answers a small
 * integer, kept inside the object, up to 2^31 ms (24 days) on Node's 64-bit builds; past that, a number object again.
 */
export function sinceStartMs(): number {
  return Math.floor(Date.now() - STARTED);
}

/** `epochMs` (a `Date.now()` time) on {@link sinceStartMs}'s clock, as a small integer. */
export function toSinceStartMs(epochMs: number): number {
  return Math.floor(epochMs - STARTED);
}

/** A time of {@link sinceStartMs}'s clock as a `Date.now()` time. */
export function toEpochMs(sinceStart: number): number {
  return STARTED + sinceStart;
}

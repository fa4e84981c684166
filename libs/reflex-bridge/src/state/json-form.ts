/**
 * `changes` with each object value replaced by what JSON makes of it (a `Date` becomes its ISO text, a class instance
 * its enumerable fields, `NaN`, `Infinity` and `undefined` `null`, a function left out), as the Redis store saves it and as the client receives it.
 * Primitive values are kept as they are. Called only for values the state-size meter already walked, so none is a
 * BigInt, a cycle or an object whose `toJSON` throws.
 */
export function jsonForm(changes: Record<string, unknown>): Record<string, unknown> {
  const form: Record<string, unknown> = {};
  for (const name in changes) form[name] = jsonValue(changes[name]);
  return form;
}

/**
 * What JSON makes of `value` (see {@link jsonForm}): a primitive as it is, an object through `JSON.stringify` and
 * `JSON.parse`. Throws JSON's `TypeError` for a BigInt or a cycle.
 */
export function jsonValue(value: unknown): unknown {
  // NaN, Infinity and undefined: JSON sends the first two as null and leaves the last out, so the client never
  // sees the var change; null is what the Redis store reads back for the one and what the client is told for both.
  if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return null;
  if (value === null || typeof value !== 'object') return value;
  const text = JSON.stringify(value) as string | undefined;
  // A toJSON answering undefined: JSON leaves such a property out; as a var it reads as null.
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/** Whether a var of `changes` is set to a primitive JSON cannot carry as it is: NaN, ±Infinity, undefined. */
export function hasNonJsonPrimitive(changes: Record<string, unknown>): boolean {
  for (const name in changes) {
    const value = changes[name];
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return true;
  }
  return false;
}

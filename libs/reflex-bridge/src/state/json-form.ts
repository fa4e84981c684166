/**
 * `changes` with each object value replaced by what JSON makes of it (a `Date` becomes its ISO text, a class instance
 * its enumerable fields, `NaN` inside an array `null`), as the Redis store saves it and as the client receives it.
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
  if (value === null || typeof value !== 'object') return value;
  const text = JSON.stringify(value) as string | undefined;
  // A toJSON answering undefined: JSON leaves such a property out; as a var it reads as null.
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

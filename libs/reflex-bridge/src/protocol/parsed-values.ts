/**
 * Bytes an inbound event is counted for each value it carries (keys and array items), besides its frame's size,
 * wherever events wait (the token's queue, `maxQueuedBytes`; events held while a client's output waits). Measured on
 * Node 20 (V8, 64-bit): an empty object in an array takes 64 bytes, an empty array 40, an object key 68 in a large
 * object, a number, `true` or a short string 8 besides its characters, which the frame counts. Frames of empty
 * objects took 21 times their size once parsed.
 */
export const PARSED_VALUE_BYTES = 64;

/**
 * How many values (keys and array items, at any depth) `value` carries, counting up to past `limit` and no further:
 * the work is bounded by `limit` whatever the value. Walks without recursion, so a deeply nested value (JSON.parse
 * takes any depth) cannot overflow the stack; a value not yet validated may be anything the parser produced.
 */
export function valuesUpTo(value: unknown, limit: number): number {
  let count = 0;
  // Every object pushed was counted as a value first, so the stack holds at most `limit + 1` of them.
  const pending: object[] = [];
  let next: unknown = value;
  for (;;) {
    if (next !== null && typeof next === 'object') {
      if (Array.isArray(next)) {
        if ((count += next.length) > limit) return count;
        for (const item of next as unknown[]) if (item !== null && typeof item === 'object') pending.push(item);
      } else {
        for (const key in next) {
          if (++count > limit) return count;
          const item = (next as Record<string, unknown>)[key];
          if (item !== null && typeof item === 'object') pending.push(item);
        }
      }
    }
    if (pending.length === 0) return count;
    next = pending.pop();
  }
}

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { valuesUpTo } from './parsed-values.js';

/** Keys and array items in `value`, counted the obvious (recursive, unbounded) way. */
function count(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  if (Array.isArray(value)) return value.length + value.reduce((sum: number, item) => sum + count(item), 0);
  return Object.values(value).reduce((sum: number, item) => sum + 1 + count(item), 0);
}

describe('valuesUpTo', () => {
  it('counts the keys and array items of any JSON value, at any depth, when they are within the limit', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => expect(valuesUpTo(value, Number.MAX_SAFE_INTEGER)).toBe(count(value))));
  });

  it('says past the limit, without counting further, when there are more', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(50), (value, limit) => {
        const counted = valuesUpTo(value, limit);
        if (count(value) <= limit) expect(counted).toBe(count(value));
        else expect(counted).toBeGreaterThan(limit);
      }),
    );
  });

  it('walks a value nested far deeper than the stack allows, and stops at the limit in a huge one', () => {
    const deep = JSON.parse('['.repeat(500_000) + ']'.repeat(500_000)) as unknown;
    expect(valuesUpTo(deep, Number.MAX_SAFE_INTEGER)).toBe(499_999);
    expect(valuesUpTo(Array.from({ length: 1_000_000 }, () => ({})), 10)).toBe(1_000_000);
    expect(valuesUpTo({ a: Array.from({ length: 100 }, () => ({ b: 1 })) }, 10)).toBeGreaterThan(10);
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalString } from './canonical-string.js';

describe('canonicalString', () => {
  it('returns an equal string for any value, index-like, empty and non-ASCII ones included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.nat().map(String), fc.constantFrom('', '__proto__', 'constructor', '0', '4294967295')), (value) => {
        expect(canonicalString(value)).toBe(value);
      }),
    );
  });

  it('finds a Map entry stored under an equal string cut from elsewhere', () => {
    const cookie = 's:0123456789abcdefghijklmnopqrstuv.signature';
    const map = new Map([[canonicalString(cookie.slice(2, 34)), 'entry']]);
    expect(map.get(canonicalString(`x${cookie}`.slice(3, 35)))).toBe('entry');
  });
});

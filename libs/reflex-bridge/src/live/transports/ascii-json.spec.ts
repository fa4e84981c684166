import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { asciiJson } from './ascii-json.js';

describe('asciiJson', () => {
  it('escapes non-ASCII characters, emoji as their surrogate pair', () => {
    expect(asciiJson(JSON.stringify({ name: 'café 東京 😀' }))).toBe('{"name":"caf\\u00e9 \\u6771\\u4eac \\ud83d\\ude00"}');
  });

  it('gives ASCII JSON text that parses to the same value, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), (value) => {
        const json = JSON.stringify(value);
        const escaped = asciiJson(json);
        expect([...escaped].every((char) => char.charCodeAt(0) < 0x80)).toBe(true);
        expect(JSON.parse(escaped)).toEqual(JSON.parse(json));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps lone surrogates (escaped by JSON.stringify already) as they were', () => {
    const json = JSON.stringify({ s: 'a\ud83db\udc00' });
    expect(JSON.parse(asciiJson(json))).toEqual({ s: 'a\ud83db\udc00' });
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodedPathPart } from './decoded-path-part.js';

/** Text with percent signs and hex digits in every arrangement, besides arbitrary code points. */
const pathLike = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('%', 'E', '0', 'A', '4', 'f', 'z', '/', 'a', 'é', '\ud800') }),
);

/** `text`'s percent-encoding, or undefined for text no URL can carry (a lone surrogate). */
function encoded(text: string): string | undefined {
  try {
    return encodeURIComponent(text);
  } catch {
    return undefined;
  }
}

describe('decodedPathPart', () => {
  it('decodes a well-formed escape and is undefined for a malformed one', () => {
    expect(decodedPathPart('a%20b%C3%A9')).toBe('a bé');
    expect(decodedPathPart('%2F..%2f')).toBe('/../');
    for (const malformed of ['%E0%A4%A', '%zz', '%', 'a%2', '%C3', '%ED%A0%80']) expect(decodedPathPart(malformed)).toBeUndefined();
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(pathLike, (text) => {
        const decoded = decodedPathPart(text);
        expect(decoded === undefined || typeof decoded === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives back the text of any well-formed encoding', () => {
    fc.assert(
      fc.property(pathLike, (text) => {
        const escaped = encoded(text);
        fc.pre(escaped !== undefined);
        expect(decodedPathPart(escaped!)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

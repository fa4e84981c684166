import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { byteRangeOf } from './stored-file-range.js';

describe('byteRangeOf', () => {
  it('is the whole file without a Range header, or with one it does not read', () => {
    for (const header of [undefined, '', 'bytes', 'bytes=abc', 'items=0-1', 'items=500-', 'bytes=1-2-3', 'bytes=0x10-20', 'bytes=+1-2', `bytes=0-1,${'2-3,'.repeat(400)}4-5`]) {
      expect([header, byteRangeOf(header, 100)]).toEqual([header, { kind: 'whole' }]);
    }
  });

  it('ignores a header with a range that ends before it starts, as RFC 9110 says, whatever else it asks', () => {
    for (const header of ['bytes=1-0', 'bytes=0-1,5-3', 'bytes= 10 - 9 ', 'bytes=200-100', `bytes=${'9'.repeat(30)}-${'8'.repeat(30)}`]) {
      expect([header, byteRangeOf(header, 100)]).toEqual([header, { kind: 'whole' }]);
    }
    expect(byteRangeOf('bytes=5-5', 100)).toEqual({ kind: 'part', start: 5, end: 5 });
  });

  it('answers one range with its bytes, the end capped at the last byte', () => {
    expect(byteRangeOf('bytes=0-1', 100)).toEqual({ kind: 'part', start: 0, end: 1 });
    expect(byteRangeOf('bytes=10-', 100)).toEqual({ kind: 'part', start: 10, end: 99 });
    expect(byteRangeOf('bytes=-10', 100)).toEqual({ kind: 'part', start: 90, end: 99 });
    expect(byteRangeOf('bytes=50-99999999999999999999999', 100)).toEqual({ kind: 'part', start: 50, end: 99 });
    expect(byteRangeOf('Bytes = 5 - 6', 100)).toEqual({ kind: 'part', start: 5, end: 6 });
  });

  it('answers a suffix longer than the file with the whole file as one range, as RFC 9110 says', () => {
    expect(byteRangeOf('bytes=-1000', 100)).toEqual({ kind: 'part', start: 0, end: 99 });
  });

  it('merges overlapping and adjacent ranges, and answers several distinct ones with the whole file', () => {
    expect(byteRangeOf('bytes=0-10,5-20,21-30', 100)).toEqual({ kind: 'part', start: 0, end: 30 });
    expect(byteRangeOf('bytes=0-0,0-0,0-0', 100)).toEqual({ kind: 'part', start: 0, end: 0 });
    expect(byteRangeOf('bytes=0-1,50-60', 100)).toEqual({ kind: 'whole' });
  });

  it('is unsatisfiable when no range starts inside the file', () => {
    expect(byteRangeOf('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(byteRangeOf('bytes=200-300,150-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(byteRangeOf('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(byteRangeOf('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(byteRangeOf('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('never throws, and every part it answers lies inside the file (property)', () => {
    const position = fc.oneof(fc.nat({ max: 2000 }), fc.constantFrom('', '-1', '99999999999999999999999999', '1e3', ' 7 ', '0x1', 'NaN'));
    const range = fc.tuple(position, position).map(([start, end]) => `${start}-${end}`);
    const header = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(range, { minLength: 1, maxLength: 20 }).map((ranges) => `bytes=${ranges.join(',')}`),
      fc.tuple(fc.constantFrom('bytes', 'BYTES', 'items', ''), fc.string({ maxLength: 50 })).map(([unit, rest]) => `${unit}=${rest}`),
    );
    fc.assert(
      fc.property(header, fc.nat({ max: 1500 }), (value, size) => {
        const answer = byteRangeOf(value, size);
        if (answer.kind === 'part') {
          expect(Number.isSafeInteger(answer.start) && Number.isSafeInteger(answer.end)).toBe(true);
          expect(answer.start).toBeGreaterThanOrEqual(0);
          expect(answer.start).toBeLessThanOrEqual(answer.end);
          expect(answer.end).toBeLessThan(size);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('does bounded work on the largest header a client can send', () => {
    // Node takes headers up to 16 kB by default (more with --max-http-header-size): thousands of ranges.
    const many = `bytes=${Array.from({ length: 8000 }, (_, i) => `${(i * 7919) % 100000}-${((i * 7919) % 100000) + 1}`).join(',')}`;
    expect(byteRangeOf(many, 1_000_000)).toEqual({ kind: 'whole' });
    expect(byteRangeOf(`bytes=${'9'.repeat(100_000)}-`, 100)).toEqual({ kind: 'whole' });
  });
});

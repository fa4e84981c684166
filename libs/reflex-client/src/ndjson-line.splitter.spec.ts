import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { NdjsonLineSplitter } from './ndjson-line.splitter.js';

/** Cuts `whole` at the given (sorted, deduplicated) offsets. */
function cut<T extends { slice(a: number, b?: number): T; length: number }>(whole: T, offsets: number[]): T[] {
  const points = [...new Set(offsets.map((o) => o % (whole.length + 1)))].sort((a, b) => a - b);
  const pieces: T[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(whole.slice(start, point));
    start = point;
  }
  pieces.push(whole.slice(start));
  return pieces;
}

const lineValue = fc.jsonValue().filter((value) => value !== null && typeof value === 'object');

describe('NdjsonLineSplitter', () => {
  it('returns whole lines however the bytes are cut (multi-byte characters included)', () => {
    fc.assert(
      fc.property(
        fc.array(lineValue, { maxLength: 12 }),
        fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.boolean(),
        (values, texts, offsets, trailingNewline) => {
          const objects = [...values, ...texts.map((text) => ({ text }))];
          const lines = objects.map((value) => JSON.stringify(value));
          const body = lines.join('\n') + (trailingNewline ? '\n' : '');
          const splitter = new NdjsonLineSplitter();
          const out: string[] = [];
          for (const piece of cut(new TextEncoder().encode(body), offsets)) out.push(...splitter.push(piece));
          out.push(...splitter.flush());
          expect(out).toEqual(lines);
          expect(out.map((line) => JSON.parse(line) as unknown)).toEqual(objects.map((value) => JSON.parse(JSON.stringify(value)) as unknown));
        },
      ),
    );
  });

  it('returns whole lines however the text is cut, with \\r\\n endings and blank lines', () => {
    fc.assert(
      fc.property(fc.array(lineValue, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (values, offsets) => {
        const lines = values.map((value) => JSON.stringify(value));
        const body = `\r\n${lines.join('\r\n\n')}\r\n`;
        const splitter = new NdjsonLineSplitter();
        const out: string[] = [];
        for (const piece of cut(body, offsets)) out.push(...splitter.push(piece));
        out.push(...splitter.flush());
        expect(out).toEqual(lines);
      }),
    );
  });

  it('only emits a line once its newline arrived', () => {
    const splitter = new NdjsonLineSplitter();
    expect(splitter.push('{"delta":')).toEqual([]);
    expect(splitter.push('{}}')).toEqual([]);
    expect(splitter.push('\n{"a"')).toEqual(['{"delta":{}}']);
    expect(splitter.flush()).toEqual(['{"a"']);
  });

  it('refuses a line that grows past the cap', () => {
    const splitter = new NdjsonLineSplitter(8);
    expect(splitter.push('{"a":1}\n')).toEqual(['{"a":1}']);
    expect(() => splitter.push('{"aaaaaaaaaa')).toThrow(RangeError);
  });
});

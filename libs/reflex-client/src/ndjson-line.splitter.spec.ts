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
    // Also a line that arrives whole, newline included, in one chunk; and one finished across chunks.
    expect(() => new NdjsonLineSplitter(8).push('{"aaaaaaaaaa"}\n')).toThrow(RangeError);
    const split = new NdjsonLineSplitter(8);
    expect(split.push('{"aaaa')).toEqual([]);
    expect(() => split.push('aaaa"}\n')).toThrow(RangeError);
  });

  it('takes a long line in many small chunks in linear time (a tab stays responsive)', async () => {
    // 16 MiB in 16 KiB chunks: re-scanning the whole unfinished line on each chunk took ~15 s here (1,000 chunks × up to
    // 16 MiB); scanning only the new chunk takes milliseconds. The deadline is far above either on a loaded machine.
    const splitter = new NdjsonLineSplitter();
    const chunk = 'x'.repeat(16 * 1024);
    const run = (async () => {
      for (let i = 0; i < 1023; i += 1) {
        expect(splitter.push(chunk)).toEqual([]);
        if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      return splitter.push('"\n{"a":1}\n').map((line) => line.length);
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), 5_000);
    });
    try {
      expect(await Promise.race([run, deadline])).toEqual([16 * 1024 * 1023 + 1, 7]);
    } finally {
      clearTimeout(timer);
    }
  });
});

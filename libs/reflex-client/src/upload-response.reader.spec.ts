import { describe, expect, it } from '@jest/globals';
import { retryAfterMsOf, UploadResponseReader } from './upload-response.reader.js';

describe('retryAfterMsOf', () => {
  const now = Date.parse('2026-12-04T18:00:00Z');

  it('reads delay-seconds and HTTP dates, never below zero', () => {
    expect(retryAfterMsOf('30', now)).toBe(30_000);
    expect(retryAfterMsOf(' 0 ', now)).toBe(0);
    expect(retryAfterMsOf('Fri, 04 Dec 2026 18:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMsOf('Fri, 04 Dec 2026 17:00:00 GMT', now)).toBe(0);
  });

  it('is undefined when the header is absent or unreadable', () => {
    for (const header of [undefined, null, '', '  ', 'soon', '-5', '1.5']) expect(retryAfterMsOf(header, now)).toBeUndefined();
  });
});

describe('UploadResponseReader', () => {
  it('applies every line but keeps only the last maxUpdates in the result, counting the others', () => {
    const applied: number[] = [];
    const reader = new UploadResponseReader((update) => void applied.push((update as { n: number }).n), 3);
    reader.begin(200);
    reader.push(Array.from({ length: 10 }, (_, n) => `${JSON.stringify({ n })}\n`).join(''));
    const result = reader.end();
    expect(applied).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(result.updates).toEqual([{ n: 7 }, { n: 8 }, { n: 9 }]);
    expect(result.droppedUpdates).toBe(7);
  });

  it('leaves a refused update out without counting it as dropped', () => {
    const reader = new UploadResponseReader((update) => (update as { n: number }).n !== 1, 5);
    reader.begin(200);
    reader.push('{"n":0}\n{"n":1}\n{"n":2}\n');
    expect(reader.end()).toEqual({ status: 200, mode: 'buffered', updates: [{ n: 0 }, { n: 2 }], droppedUpdates: 0 });
  });

  it('fails a body past maxChars: answer_too_large for a success, the refusal itself for an error answer', () => {
    const ok = new UploadResponseReader(() => undefined, 10, 20);
    ok.begin(200);
    ok.push('{"n":0}\n{"n":1}\n');
    expect(() => ok.push('{"n":2}\n')).toThrow(expect.objectContaining({ code: 'answer_too_large', limit: 20 }));
    const refused = new UploadResponseReader(() => undefined, 10, 100);
    refused.begin(503, '7');
    refused.push('{"code":"uploads_busy","detail":"busy"}');
    expect(() => refused.push(' '.repeat(1000))).toThrow(expect.objectContaining({ status: 503, code: 'uploads_busy', retryAfterMs: 7000 }));
  });
});

import { describe, expect, it } from '@jest/globals';
import { retryAfterMsOf } from './upload-response.reader.js';

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

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RepeatedErrorLog } from './repeated-error-log.js';

const LIMITS = { perKind: 5, perWindow: 100, windowMs: 60_000 };

describe('RepeatedErrorLog', () => {
  it('logs each kind a few times a window, then counts; the next line logged says how many were not', () => {
    const log = new RepeatedErrorLog(LIMITS);
    const verdicts = Array.from({ length: 50 }, () => log.take('a', 0));
    expect(verdicts.filter((verdict) => verdict.log)).toHaveLength(5);
    // Another kind is still logged, and carries the count of the 45 repeats.
    expect(log.take('b', 1)).toEqual({ log: true, notLoggedBefore: 45 });
    // A new window logs the first kind again.
    expect(log.take('a', 60_000)).toEqual({ log: true, notLoggedBefore: 0 });
  });

  it('never logs more than perWindow lines in a window nor perKind of one kind, and counts every error once', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ kind: fc.integer({ min: 0, max: 300 }), at: fc.integer({ min: 0, max: 1_000 }) }), { maxLength: 2_000 }), (errors) => {
        const log = new RepeatedErrorLog(LIMITS);
        const times = errors.map((error) => error.at * 200).sort((a, b) => a - b);
        let logged = 0;
        let reported = 0;
        let sinceLastLine = 0;
        const perWindow = new Map<number, number>();
        const perKind = new Map<string, number>();
        let windowStart = -Infinity;
        errors.forEach((error, index) => {
          const now = times[index]!;
          if (now - windowStart >= LIMITS.windowMs) windowStart = now;
          const verdict = log.take(String(error.kind), now);
          if (!verdict.log) {
            sinceLastLine++;
            return;
          }
          expect(verdict.notLoggedBefore).toBe(sinceLastLine);
          sinceLastLine = 0;
          logged++;
          reported += verdict.notLoggedBefore;
          perWindow.set(windowStart, (perWindow.get(windowStart) ?? 0) + 1);
          const key = `${windowStart}:${error.kind}`;
          perKind.set(key, (perKind.get(key) ?? 0) + 1);
        });
        expect(Math.max(0, ...perWindow.values())).toBeLessThanOrEqual(LIMITS.perWindow);
        expect(Math.max(0, ...perKind.values())).toBeLessThanOrEqual(LIMITS.perKind);
        // Every error is logged, or counted in the next line logged (those after the last line wait for one).
        expect(logged + reported + sinceLastLine).toBe(errors.length);
      }),
    );
  });
});

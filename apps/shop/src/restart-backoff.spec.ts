import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RESTART_DELAY_MAX_MS, RESTART_DELAY_MIN_MS, RestartBackoff, STABLE_UPTIME_MS } from './restart-backoff.js';

describe('RestartBackoff', () => {
  it('doubles the delay for workers that die young, from 100 ms up to 10 s', () => {
    const backoff = new RestartBackoff();
    const delays = Array.from({ length: 10 }, () => backoff.delayAfter(50));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
  });

  it('starts again from the shortest delay once a worker had stayed up a while', () => {
    const backoff = new RestartBackoff();
    for (let i = 0; i < 6; i++) backoff.delayAfter(0);
    expect(backoff.delayAfter(STABLE_UPTIME_MS)).toBe(RESTART_DELAY_MIN_MS);
    expect(backoff.delayAfter(10)).toBe(2 * RESTART_DELAY_MIN_MS);
  });

  it('always answers a delay within its bounds, the shortest after a stable worker, never shorter than the last otherwise', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(STABLE_UPTIME_MS - 1), fc.integer({ min: STABLE_UPTIME_MS, max: 2 ** 31 }))), (uptimes) => {
        const backoff = new RestartBackoff();
        let last = 0;
        for (const uptime of uptimes) {
          const delay = backoff.delayAfter(uptime);
          expect(delay).toBeGreaterThanOrEqual(RESTART_DELAY_MIN_MS);
          expect(delay).toBeLessThanOrEqual(RESTART_DELAY_MAX_MS);
          if (uptime >= STABLE_UPTIME_MS) expect(delay).toBe(RESTART_DELAY_MIN_MS);
          else expect(delay).toBeGreaterThanOrEqual(last);
          last = delay;
        }
      }),
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import { ReconnectBackoff, resolveReconnectOptions } from './reconnect.backoff.js';
import fc from 'fast-check';

/** The policy's full delay, as a random source returning 0 gives it. */
const noJitter = (): number => 0;

describe('ReconnectBackoff', () => {
  it('waits 200 ms per recent error by default, capped at 5000 ms', () => {
    let now = 0;
    const backoff = new ReconnectBackoff(resolveReconnectOptions(), () => now, noJitter);
    expect(backoff.recordFailure()).toBe(200);
    expect(backoff.recordFailure()).toBe(400);
    expect(backoff.recordFailure()).toBe(600);
    for (let i = 0; i < 40; i++) backoff.recordFailure();
    expect(backoff.recordFailure()).toBe(5000);
    now += 1;
    expect(backoff.delay()).toBe(5000);
  });

  it('forgets errors older than the window', () => {
    let now = 0;
    const backoff = new ReconnectBackoff(resolveReconnectOptions({ windowMs: 1000 }), () => now, noJitter);
    backoff.recordFailure();
    backoff.recordFailure();
    now = 1500;
    expect(backoff.recordFailure()).toBe(200);
  });

  it('keeps recent errors across a success (a flapping server slows down) but resets the attempts in a row', () => {
    const backoff = new ReconnectBackoff(resolveReconnectOptions({ maxAttempts: 2 }), () => 0, noJitter);
    backoff.recordFailure();
    backoff.recordFailure();
    expect(backoff.exhausted).toBe(true);
    backoff.recordSuccess();
    expect(backoff.exhausted).toBe(false);
    expect(backoff.attempts).toBe(0);
    expect(backoff.recordFailure()).toBe(600);
  });

  it('rejects negative settings', () => {
    expect(() => resolveReconnectOptions({ baseDelayMs: -1 })).toThrow(RangeError);
  });
});

describe('ReconnectBackoff jitter', () => {
  it('spreads the clients a server restart dropped together over the delay, instead of sending them back at one instant', () => {
    // 50 tabs lose the same server at the same moment: each has its own backoff and one recent error.
    const delays = Array.from({ length: 50 }, () => new ReconnectBackoff(resolveReconnectOptions(), () => 0).recordFailure());
    // Every delay stays within [half, whole] of the policy's 200 ms, so the policy still slows a flapping server down.
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(200);
    }
    expect(new Set(delays).size).toBeGreaterThan(10);
  });

  it('keeps each delay within [half, whole] of baseDelayMs × recent errors, capped at maxDelayMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (base, max, failures, random) => {
        const backoff = new ReconnectBackoff(resolveReconnectOptions({ baseDelayMs: base, maxDelayMs: max }), () => 0, () => random);
        let delay = 0;
        for (let i = 0; i < failures; i++) delay = backoff.recordFailure();
        const policy = Math.min(base * failures, max);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(policy / 2));
        expect(delay).toBeLessThanOrEqual(policy);
        expect(Number.isInteger(delay)).toBe(true);
      }),
    );
  });
});

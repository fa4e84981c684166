import { describe, expect, it } from '@jest/globals';
import { ReconnectBackoff, resolveReconnectOptions } from './reconnect.backoff.js';

describe('ReconnectBackoff', () => {
  it('waits 200 ms per recent error by default, capped at 5000 ms', () => {
    let now = 0;
    const backoff = new ReconnectBackoff(resolveReconnectOptions(), () => now);
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
    const backoff = new ReconnectBackoff(resolveReconnectOptions({ windowMs: 1000 }), () => now);
    backoff.recordFailure();
    backoff.recordFailure();
    now = 1500;
    expect(backoff.recordFailure()).toBe(200);
  });

  it('keeps recent errors across a success (a flapping server slows down) but resets the attempts in a row', () => {
    const backoff = new ReconnectBackoff(resolveReconnectOptions({ maxAttempts: 2 }), () => 0);
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

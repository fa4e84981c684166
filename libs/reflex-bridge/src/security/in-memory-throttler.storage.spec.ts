import { describe, expect, it } from '@jest/globals';
import { InMemoryThrottlerStorage } from './in-memory-throttler.storage.js';
import { describeRateLimitStorageContract } from './rate-limit-storage.contract.js';

describeRateLimitStorageContract('InMemoryThrottlerStorage', () => new InMemoryThrottlerStorage());

/** A storage on a clock the test moves by hand. */
function onFakeClock() {
  const clock = { now: 1_000_000 };
  const storage = new InMemoryThrottlerStorage({ now: () => clock.now });
  return { clock, storage };
}

describe('InMemoryThrottlerStorage', () => {
  it('answers hit() synchronously, with the exact milliseconds left', () => {
    const { clock, storage } = onFakeClock();
    expect(storage.hit('a', 10_000, 2, 0)).toBe(0);
    clock.now += 4_000;
    expect(storage.hit('a', 10_000, 2, 0)).toBe(0);
    expect(storage.hit('a', 10_000, 2, 0)).toBe(6_000);
    clock.now += 5_999;
    expect(storage.hit('a', 10_000, 2, 0)).toBe(1);
    clock.now += 1;
    expect(storage.hit('a', 10_000, 2, 0)).toBe(0);
    storage.close();
  });

  it('blocks from the first refused hit; later refused hits leave the block as it is', () => {
    const { clock, storage } = onFakeClock();
    storage.hit('a', 60_000, 1, 5_000);
    expect(storage.hit('a', 60_000, 1, 5_000)).toBe(5_000);
    clock.now += 3_000;
    expect(storage.hit('a', 60_000, 1, 5_000)).toBe(2_000);
    clock.now += 2_000;
    // Block over: a fresh window of 60 s, whose one hit this is.
    expect(storage.hit('a', 60_000, 1, 5_000)).toBe(0);
    expect(storage.hit('a', 60_000, 1, 5_000)).toBe(5_000);
    storage.close();
  });

  it('keeps memory to the counters still running: sweep() drops ended ones, forget() one at once', () => {
    const { clock, storage } = onFakeClock();
    for (let i = 0; i < 1000; i++) storage.hit(`k${i}`, 1_000, 5, 0);
    storage.hit('long', 60_000, 5, 0);
    storage.hit('sid', 60_000, 5, 0, 'connection');
    expect(storage.size).toBe(1002);
    clock.now += 1_000;
    storage.sweep();
    expect(storage.size).toBe(2);
    storage.forget('sid', 'connection');
    expect(storage.size).toBe(1);
    storage.close();
    expect(storage.size).toBe(0);
  });

  it('refuses a bad sweep interval, naming it', () => {
    expect(() => new InMemoryThrottlerStorage({ sweepIntervalMs: 0 })).toThrow(/"sweepIntervalMs" must be a positive number/);
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    expect(() => new InMemoryThrottlerStorage({ sweepInterval: 1_000 } as never)).toThrow(
      'InMemoryThrottlerStorage: unknown option "sweepInterval" (it takes "sweepIntervalMs", "now")',
    );
    new InMemoryThrottlerStorage({ sweepIntervalMs: 1_000, now: Date.now }).close();
  });
});

import { afterEach, describe, expect, it } from '@jest/globals';
import type { RateLimitStorage } from './rate-limit-storage.js';

/** A storage under test, and how to close it. */
export type ClosableRateLimitStorage = RateLimitStorage & { close(): unknown };

/** Builds a fresh storage for one contract test (counters of earlier tests must not be visible). */
export type RateLimitStorageFactory = () => Promise<ClosableRateLimitStorage> | ClosableRateLimitStorage;

/** Hits `key` until one is allowed (a window or block has ended), failing after `timeoutMs`. Never a fixed sleep. */
async function untilAllowed(key: string, hit: (key: string) => Promise<number>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await hit(key)) === 0) return;
    if (Date.now() > deadline) throw new Error(`"${key}" was still refused after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The behaviour every {@link RateLimitStorage} of the library has (fixed window, optional block, counters per key
 * and throttler name). Each implementation's spec calls this once, unchanged. Windows that must not end during a
 * test are a minute long; windows that must end are waited for by polling, never by sleeping and asserting.
 */
export function describeRateLimitStorageContract(name: string, factory: RateLimitStorageFactory): void {
  describe(`RateLimitStorage contract: ${name}`, () => {
    const opened: ClosableRateLimitStorage[] = [];
    const open = async () => {
      const storage = await factory();
      opened.push(storage);
      return storage;
    };
    const key = () => `k-${Math.random().toString(36).slice(2)}`;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((storage) => storage.close()));
    });

    it('allows `limit` hits per window, then refuses with the time left', async () => {
      const storage = await open();
      const k = key();
      for (let i = 0; i < 3; i++) expect(await storage.hit(k, 60_000, 3, 0, 'default')).toBe(0);
      const wait = await storage.hit(k, 60_000, 3, 0, 'default');
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(60_000);
      expect(await storage.hit(k, 60_000, 3, 0, 'default')).toBeGreaterThan(0);
    });

    it('keeps separate counters per key and per throttler name', async () => {
      const storage = await open();
      const [a, b] = [key(), key()];
      expect(await storage.hit(a, 60_000, 1, 0, 'default')).toBe(0);
      expect(await storage.hit(a, 60_000, 1, 0, 'default')).toBeGreaterThan(0);
      expect(await storage.hit(b, 60_000, 1, 0, 'default')).toBe(0);
      expect(await storage.hit(a, 60_000, 1, 0, 'burst')).toBe(0);
    });

    it('blocks for blockDuration after the first refused hit, refused hits do not prolong it, then counts afresh', async () => {
      const storage = await open();
      const k = key();
      const hit = (name: string) => Promise.resolve(storage.hit(name, 60_000, 2, 300, 'default'));
      expect(await hit(k)).toBe(0);
      expect(await hit(k)).toBe(0);
      const wait = await hit(k);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(300);
      // Hitting all along: were refused hits prolonging the block, this would never be allowed.
      await untilAllowed(k, hit);
      // The allowed hit opened a new one-minute window: one more passes, then the limit refuses again.
      expect(await hit(k)).toBe(0);
      expect(await hit(k)).toBeGreaterThan(0);
    });

    it('without a block, refuses until the window ends', async () => {
      const storage = await open();
      const k = key();
      const hit = (name: string) => Promise.resolve(storage.hit(name, 300, 1, 0, 'default'));
      expect(await hit(k)).toBe(0);
      const wait = await hit(k);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(300);
      await untilAllowed(k, hit);
    });

    it('answers ThrottlerStorage.increment in the throttler\'s record shape (whole seconds)', async () => {
      const storage = await open();
      const k = key();
      const first = await storage.increment(k, 60_000, 1, 30_000, 'default');
      expect(first).toMatchObject({ totalHits: 1, isBlocked: false, timeToBlockExpire: 0 });
      expect(first.timeToExpire).toBeGreaterThanOrEqual(59);
      expect(first.timeToExpire).toBeLessThanOrEqual(60);
      const second = await storage.increment(k, 60_000, 1, 30_000, 'default');
      expect(second.isBlocked).toBe(true);
      expect(second.totalHits).toBe(2);
      expect(second.timeToBlockExpire).toBeGreaterThanOrEqual(29);
      expect(second.timeToBlockExpire).toBeLessThanOrEqual(30);
      // hit() and increment() count on the same counter.
      expect(await storage.hit(k, 60_000, 1, 30_000, 'default')).toBeGreaterThan(0);
    });
  });
}

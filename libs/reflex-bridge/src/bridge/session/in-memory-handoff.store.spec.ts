import { afterEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { InMemoryHandoffStore } from './in-memory-handoff.store.js';

describe('InMemoryHandoffStore', () => {
  afterEach(() => {
    jest.useRealTimers();
  });
  const fakeClock = () => jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });

  it('holds only the handoffs of the last TTL: the ones never redeemed are dropped by later writes', async () => {
    fakeClock();
    const store = new InMemoryHandoffStore<string>(1_000);
    for (let i = 0; i < 500; i++) await store.set(`old-${i}`, 'cookies', 30_000);
    jest.advanceTimersByTime(30_001);
    await store.set('new', 'cookies', 30_000);
    expect(store.size).toBe(1);
    expect(await store.get('old-0')).toBeUndefined();
    expect(await store.get('new')).toBe('cookies');
  });

  it('keeps at most maxEntries, the newest, and answers each live id until it is deleted once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 200 }), async (maxEntries, writes) => {
        const store = new InMemoryHandoffStore<number>(maxEntries);
        for (let i = 0; i < writes; i++) await store.set(`id-${i}`, i, 30_000);
        expect(store.size).toBe(Math.min(writes, maxEntries));
        for (let i = 0; i < writes; i++) {
          const kept = i >= writes - maxEntries;
          expect(await store.get(`id-${i}`)).toBe(kept ? i : undefined);
          expect(await store.delete(`id-${i}`)).toBe(kept);
          expect(await store.delete(`id-${i}`)).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('answers nothing for an expired id, even before a write dropped it', async () => {
    fakeClock();
    const store = new InMemoryHandoffStore<string>(10);
    await store.set('a', 'cookies', 30_000);
    jest.advanceTimersByTime(30_000);
    expect(await store.get('a')).toBeUndefined();
    expect(store.size).toBe(0);
  });
});

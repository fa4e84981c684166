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
  it('gives way from the address holding the most handoffs: 200 addresses writing as fast as their limit allows do not push out another user\'s login', async () => {
    const store = new InMemoryHandoffStore<string>(20_000);
    await store.set('login', 'cookies', 30_000, 'user-address');
    for (let round = 0; round < 2; round++) {
      for (let address = 0; address < 200; address++) {
        for (let i = 0; i < 100; i++) await store.set(`flood-${round}-${address}-${i}`, 'cookies', 30_000, `attacker-${address}`);
      }
    }
    expect(store.size).toBe(20_000);
    expect(await store.get('login')).toBe('cookies');
    // Each flooding address gave way from its own oldest: its newest are still there.
    expect(await store.get('flood-1-0-99')).toBe('cookies');
    expect(await store.get('flood-0-0-0')).toBeUndefined();
  });

  it('keeps maxEntries at most and every address\'s newest handoff, whatever the order of writes, deletes and owners', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.oneof(fc.record({ write: fc.integer({ min: 0, max: 5 }) }), fc.record({ remove: fc.nat(200) })), { maxLength: 200 }),
        async (maxEntries, steps) => {
          const store = new InMemoryHandoffStore<number>(maxEntries);
          const newestOf = new Map<string, string>();
          let n = 0;
          for (const step of steps) {
            if ('write' in step) {
              const id = `id-${n++}`;
              await store.set(id, n, 30_000, `owner-${step.write}`);
              newestOf.set(`owner-${step.write}`, id);
            } else {
              await store.delete(`id-${step.remove}`);
            }
            expect(store.size).toBeLessThanOrEqual(maxEntries);
          }
          // With no more owners than room, nobody's newest handoff was pushed out by another owner's.
          if (newestOf.size <= maxEntries) {
            for (const id of newestOf.values()) {
              const deleted = steps.some((step) => 'remove' in step && `id-${step.remove}` === id);
              if (!deleted) expect(await store.get(id)).toBeDefined();
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

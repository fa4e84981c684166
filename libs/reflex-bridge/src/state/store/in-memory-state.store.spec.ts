import { describe, expect, it } from '@jest/globals';
import { describeStateStoreContract } from '@reflex-bridge/nest/testing';
import { InMemoryStateStore } from './in-memory-state.store.js';
import { LockLostError } from './state-store.js';

describeStateStoreContract('InMemoryStateStore', ({ ttlSeconds }) => new InMemoryStateStore({ ttlSeconds }));

describe('InMemoryStateStore.tryAcquireSync', () => {
  it('grants the lock only while it is free, and a waiting acquire goes before later callers', async () => {
    const store = new InMemoryStateStore();
    const held = store.tryAcquireSync('t');
    expect(held).toBeDefined();
    expect(store.tryAcquireSync('t')).toBeUndefined();
    const waiting = store.acquire('t');
    expect(held!.save({ s: { n: 1 } })).toBeUndefined();
    expect(held!.release()).toBeUndefined();
    // The lock went straight to the waiter: a synchronous caller cannot barge in before it runs.
    expect(store.tryAcquireSync('t')).toBeUndefined();
    const next = await waiting;
    expect(next.state).toEqual({ s: { n: 1 } });
    expect(next.release()).toBeUndefined();
    const again = store.tryAcquireSync('t');
    expect(again?.state).toEqual({ s: { n: 1 } });
    expect(again!.release()).toBeUndefined();
    await store.close();
  });

  it('saves and releases synchronously, and refuses a save after release at once', async () => {
    const store = new InMemoryStateStore();
    const lease = store.tryAcquireSync('t')!;
    expect(lease.save({ s: { n: 2 } })).toBeUndefined();
    expect(lease.release()).toBeUndefined();
    expect(() => lease.save({ s: { n: 3 } })).toThrow(LockLostError);
    expect(await store.read('t')).toEqual({ s: { n: 2 } });
    await store.close();
  });
});

describe('InMemoryStateStore entries', () => {
  it('keeps no entry for a token whose lease saved nothing, and keeps one for as long as anyone holds or waits', async () => {
    const store = new InMemoryStateStore();
    for (const token of ['a', 'b', 'c']) expect(store.tryAcquireSync(token)!.release()).toBeUndefined();
    expect(store.size).toBe(0);
    const held = store.tryAcquireSync('t')!;
    const waiting = store.acquire('t');
    expect(held.release()).toBeUndefined();
    expect(store.size).toBe(1);
    const next = await waiting;
    expect(next.state).toBeNull();
    expect(next.save({ s: { n: 1 } })).toBeUndefined();
    expect(next.release()).toBeUndefined();
    expect(store.size).toBe(1);
    expect(await store.read('t')).toEqual({ s: { n: 1 } });
    await store.close();
  });
});

describe('InMemoryStateStore stateSize', () => {
  it('hands back the size a state was saved with, until a save without one or the state is gone', async () => {
    const store = new InMemoryStateStore();
    const first = store.tryAcquireSync('t')!;
    expect(first.stateSize).toBeUndefined();
    expect(first.save({ s: { n: 1 } }, { stateSize: 17 })).toBeUndefined();
    expect(first.release()).toBeUndefined();
    const second = store.tryAcquireSync('t')!;
    expect(second.stateSize).toBe(17);
    expect(second.save({ s: { n: 2 } })).toBeUndefined();
    expect(second.release()).toBeUndefined();
    const third = store.tryAcquireSync('t')!;
    expect(third.stateSize).toBeUndefined();
    expect(third.save({ s: { n: 3 } }, { stateSize: 18 })).toBeUndefined();
    expect(third.release()).toBeUndefined();
    await store.delete('t');
    const fourth = store.tryAcquireSync('t')!;
    expect(fourth.state).toBeNull();
    expect(fourth.stateSize).toBeUndefined();
    expect(fourth.release()).toBeUndefined();
    await store.close();
  });
});

describe('InMemoryStateStore maxBytes', () => {
  /** Saves `bytes` of state for `token` and releases it; `provisional` as hydration alone saves it. */
  const put = (store: InMemoryStateStore, token: string, bytes: number, provisional = false) => {
    const lease = store.tryAcquireSync(token)!;
    expect(lease.save({ s: { token } }, { stateSize: bytes, provisional })).toBeUndefined();
    expect(lease.release()).toBeUndefined();
  };

  /** Returns once the clock moved on: the store orders uses by the millisecond, as Redis's LRU is approximate too. */
  const nextMillisecond = () => {
    const now = Date.now();
    while (Date.now() === now);
  };

  it('holds at most maxBytes of state however many tokens there are, dropping provisional then least recently used states', async () => {
    const store = new InMemoryStateStore({ maxBytes: 10_000 });
    for (let i = 0; i < 8; i++) put(store, `used-${i}`, 1_000);
    nextMillisecond();
    put(store, 'hydrated-only', 1_000, true);
    put(store, 'used-0', 1_000); // used again: now more recently used than the others
    expect(store.bytes).toBe(9_000);
    expect(store.droppedOverBudget).toBe(0);
    nextMillisecond();
    put(store, 'new-a', 1_000);
    put(store, 'new-b', 1_000); // 11,000: over; drops down to 9,000 (the provisional state, then one more)
    expect(store.bytes).toBeLessThanOrEqual(9_000);
    expect(await store.read('hydrated-only')).toBeNull();
    expect(await store.read('used-1')).toBeNull();
    expect(await store.read('used-2')).not.toBeNull();
    expect(await store.read('used-0')).not.toBeNull();
    expect(await store.read('new-b')).not.toBeNull();
    for (let i = 0; i < 1_000; i++) put(store, `flood-${i}`, 700);
    expect(store.bytes).toBeLessThanOrEqual(10_000);
    expect(store.size).toBeLessThanOrEqual(15);
    expect(store.droppedOverBudget).toBeGreaterThan(990);
    await store.close();
  });

  it('never drops a state under a lock, and counts a save without a size as the size last measured', async () => {
    const store = new InMemoryStateStore({ maxBytes: 5_000 });
    const held = store.tryAcquireSync('held')!;
    expect(held.save({ s: { n: 1 } }, { stateSize: 3_000 })).toBeUndefined();
    for (let i = 0; i < 10; i++) put(store, `other-${i}`, 1_000);
    expect((await store.read('held'))?.s).toEqual({ n: 1 });
    // A save that changed only small values passes no size: the entry still counts its last measure.
    expect(held.save({ s: { n: 2 } })).toBeUndefined();
    expect(store.bytes).toBeLessThanOrEqual(5_000);
    expect(store.bytes).toBeGreaterThanOrEqual(3_000);
    expect(held.release()).toBeUndefined();
    await store.delete('held');
    expect(store.bytes).toBeLessThanOrEqual(2_000);
    await store.close();
  });

  it("never drops a connected tab's state, and does not scan again on every save when open tabs fill the budget", async () => {
    const connected = new Set<string>();
    let asked = 0;
    const store = new InMemoryStateStore({ maxBytes: 10_000, isConnected: (token) => (asked++, connected.has(token)) });
    // The oldest states are the open tabs': least recently used, yet kept.
    for (let i = 0; i < 19; i++) {
      connected.add(`open-${i}`);
      put(store, `open-${i}`, 500);
    }
    nextMillisecond();
    for (let i = 0; i < 100; i++) put(store, `left-${i}`, 100);
    for (let i = 0; i < 19; i++) expect(await store.read(`open-${i}`)).not.toBeNull();
    expect(store.bytes).toBeLessThanOrEqual(9_500 + 1_000 + 100);
    expect(store.droppedOverBudget).toBeGreaterThan(80);
    // 9,500 bytes of open tabs stay over 90% of the budget: a drop runs once per tenth of it (each asks about every
    // entry), not on each of the 100 saves.
    expect(asked).toBeLessThan(300);
    // Once the tabs close, their states are as any other.
    connected.clear();
    for (let i = 0; i < 20; i++) put(store, `later-${i}`, 500);
    expect(store.bytes).toBeLessThanOrEqual(10_000);
    expect(await store.read('open-0')).toBeNull();
    await store.close();
  });

  it('stops counting a state once it expired, was deleted or was dropped', async () => {
    const store = new InMemoryStateStore({ ttlSeconds: 0.05, maxBytes: 1_000_000 });
    put(store, 'a', 400);
    put(store, 'b', 600);
    expect(store.bytes).toBe(1_000);
    await store.delete('a');
    expect(store.bytes).toBe(600);
    const deadline = Date.now() + 30_000;
    while (store.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
    await store.close();
  });
});

describe('InMemoryStateStore options', () => {
  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', async () => {
    expect(() => new InMemoryStateStore({ ttl: 60 } as never)).toThrow(
      'InMemoryStateStore: unknown option "ttl" (it takes "ttlSeconds", "unusedTtlSeconds", "maxBytes", "isConnected")',
    );
    await new InMemoryStateStore({ ttlSeconds: 60, unusedTtlSeconds: 30, maxBytes: 1_000, isConnected: () => false }).close();
  });

  it('refuses a value that is not a positive number, naming the option: a negative TTL dropped every state at once', () => {
    for (const [name, value] of [
      ['ttlSeconds', -1],
      ['ttlSeconds', Number.NaN],
      ['unusedTtlSeconds', 0],
      ['maxBytes', '1000'],
      ['maxBytes', Number.POSITIVE_INFINITY],
    ] as const) {
      expect(() => new InMemoryStateStore({ [name]: value } as never)).toThrow(`InMemoryStateStore: "${name}" must be a positive number, got ${JSON.stringify(value)}`);
    }
    expect(() => new InMemoryStateStore({ isConnected: true } as never)).toThrow('InMemoryStateStore: "isConnected" must be a function (token) => boolean, got boolean');
  });
});

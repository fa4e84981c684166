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

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

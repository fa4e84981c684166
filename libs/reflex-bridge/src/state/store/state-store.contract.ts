import { afterEach, describe, expect, it } from '@jest/globals';
import { LockLostError, type StateStore, type StoredState } from './state-store.js';

/** Builds a fresh store for one contract test; `ttlSeconds` may be fractional. */
export type StateStoreFactory = (options: { ttlSeconds: number }) => Promise<StateStore> | StateStore;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the Jest suite of the behaviour every {@link StateStore} must have: locking per token in arrival
 * order, save/read/delete round trips as JSON data, {@link LockLostError} after release, and expiry after the TTL.
 * Each implementation's spec calls this once, unchanged, at the top level of a spec file; third-party stores
 * import it from `@reflex-bridge/nest/testing` and need `@jest/globals` installed.
 *
 * @param name shown in the suite's title.
 * @param factory builds a fresh, empty store for one test; the suite closes it after the test. Stores that share
 *   a server between tests are fine: every test uses its own random tokens.
 */
export function describeStateStoreContract(name: string, factory: StateStoreFactory): void {
  describe(`StateStore contract: ${name}`, () => {
    const opened: StateStore[] = [];
    const open = async (ttlSeconds = 60) => {
      const store = await factory({ ttlSeconds });
      opened.push(store);
      return store;
    };
    const token = () => `tok-${Math.random().toString(36).slice(2)}`;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    it('gives a new token no state', async () => {
      const store = await open();
      const lease = await store.acquire(token());
      expect(lease.state).toBeNull();
      await lease.release();
    });

    it('returns what was saved to the next holder, as JSON data', async () => {
      const store = await open();
      const t = token();
      const state: StoredState = { 'root.counter': { count: 3, tags: ['a'], nested: { ok: true }, none: null } };
      const lease = await store.acquire(t);
      await lease.save(state);
      await lease.release();
      const next = await store.acquire(t);
      expect(next.state).toEqual(state);
      await next.release();
      expect(await store.read(t)).toEqual(state);
    });

    it('reads one entry of a state (readEntry): the same data as read gives, null when the token or the entry has none', async () => {
      const store = await open();
      const t = token();
      expect(await store.readEntry(t, 'root.counter')).toBeNull();
      const state: StoredState = { 'root.counter': { count: 3, tags: ['a'] }, 'rx:owner': { session: 'hash' } };
      const lease = await store.acquire(t);
      await lease.save(state);
      await lease.release();
      expect(await store.readEntry(t, 'root.counter')).toEqual(state['root.counter']);
      expect(await store.readEntry(t, 'rx:owner')).toEqual({ session: 'hash' });
      expect(await store.readEntry(t, 'root.other')).toBeNull();
      await store.delete(t);
      expect(await store.readEntry(t, 'rx:owner')).toBeNull();
    });

    it('leaves the state untouched when a holder releases without saving', async () => {
      const store = await open();
      const t = token();
      const first = await store.acquire(t);
      await first.save({ s: { n: 1 } });
      await first.release();
      const second = await store.acquire(t);
      await second.release();
      expect(await store.read(t)).toEqual({ s: { n: 1 } });
    });

    it('grants the lock to one holder at a time, in arrival order', async () => {
      const store = await open();
      const t = token();
      const order: number[] = [];
      let inside = 0;
      let maxInside = 0;
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          await sleep(i); // stagger arrivals so the order is well defined
          const lease = await store.acquire(t);
          inside++;
          maxInside = Math.max(maxInside, inside);
          order.push(i);
          const current = (lease.state?.s?.n as number | undefined) ?? 0;
          await sleep(2);
          await lease.save({ s: { n: current + 1 } });
          inside--;
          await lease.release();
        }),
      );
      expect(maxInside).toBe(1);
      expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await store.read(t)).toEqual({ s: { n: 20 } });
    });

    it('does not make one token wait for another', async () => {
      const store = await open();
      const busy = await store.acquire(token());
      const other = await Promise.race([store.acquire(token()), sleep(1000).then(() => 'timeout' as const)]);
      expect(other).not.toBe('timeout');
      if (other !== 'timeout') await other.release();
      await busy.release();
    });

    it('refuses a save after release', async () => {
      const store = await open();
      const t = token();
      const lease = await store.acquire(t);
      await lease.release();
      // A store may refuse synchronously or asynchronously: either way the caller's await fails.
      await expect(async () => lease.save({ s: { n: 9 } })).rejects.toBeInstanceOf(LockLostError);
      expect(await store.read(t)).toBeNull();
    });

    it('renews a held lease, and refuses renewing it after release', async () => {
      const store = await open();
      const t = token();
      const lease = await store.acquire(t);
      // Stores whose locks never expire may leave renewal out.
      if (lease.renew) {
        await lease.renew();
        await lease.save({ s: { n: 1 } });
        await lease.release();
        await expect(async () => lease.renew!()).rejects.toBeInstanceOf(LockLostError);
      } else {
        await lease.release();
      }
      const next = await store.acquire(t);
      expect(next.state).toEqual(lease.renew ? { s: { n: 1 } } : null);
      await next.release();
    });

    it('forgets a deleted token', async () => {
      const store = await open();
      const t = token();
      const lease = await store.acquire(t);
      await lease.save({ s: { n: 1 } });
      await lease.release();
      await store.delete(t);
      expect(await store.read(t)).toBeNull();
      const next = await store.acquire(t);
      expect(next.state).toBeNull();
      await next.release();
    });

    it('expires idle tokens after the TTL', async () => {
      const store = await open(1);
      const t = token();
      const lease = await store.acquire(t);
      await lease.save({ s: { n: 1 } });
      await lease.release();
      expect(await store.read(t)).toEqual({ s: { n: 1 } });
      await sleep(2200);
      expect(await store.read(t)).toBeNull();
    });
  });
}

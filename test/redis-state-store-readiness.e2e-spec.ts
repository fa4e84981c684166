import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { RedisStateStore, type RedisStateStoreOptions } from '../libs/reflex-bridge/src/state/store/redis-state.store.js';
import type { StateLease } from '../libs/reflex-bridge/src/state/store/state-store.js';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { HoldingProxy } from './support/holding-proxy.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };
const newToken = () => `tok-${Math.random().toString(36).slice(2)}`;
/** Linger, lock and polls of a minute: within the test, only a lock request heard on the owner channel hands a kept lock over. */
const SLOW = { lockLingerMs: 60_000, lockTimeoutMs: 60_000, pollIntervalMs: 60_000, acquireTimeoutMs: 120_000, logger: silent } satisfies Partial<RedisStateStoreOptions>;

/** Whether `promise` has settled, once every callback already due has run. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describeWithRedis('RedisStateStore readiness: the lock-request subscription is in place', () => {
  let server: RedisTestServer;
  let proxy: HoldingProxy;
  const stores: RedisStateStore[] = [];
  const connectionsToClose: RedisConnections[] = [];

  beforeAll(async () => {
    server = await RedisTestServer.launch();
  }, 30_000);

  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    await Promise.allSettled(connectionsToClose.splice(0).map((connections) => connections.close()));
    await proxy?.destroy();
  });

  afterAll(async () => {
    await server?.destroy();
  });

  /** `a`'s kept lock goes to another worker that asks for it, long before the linger or the lock would end. */
  async function handsKeptLockOver(a: RedisStateStore): Promise<void> {
    // b gives up at half of what a keeps a lock at most (keepForMs: half lockTimeoutMs, 30 s): a timeout means a did
    // not hear b's request.
    const b = new RedisStateStore({ url: server.url, ...SLOW, acquireTimeoutMs: 15_000 });
    stores.push(b);
    const t = newToken();
    const lease = await a.acquire(t);
    await lease.save({ s: { n: 1 } });
    await lease.release();
    // a keeps the lock (lockLingerMs): only its owner channel tells it that b waits.
    const other: StateLease = await b.acquire(t);
    expect(other.state).toEqual({ s: { n: 1 } });
    await other.release();
  }

  it('connect() resolves only once Redis confirmed the subscription, so a released lock it keeps goes at once to a worker that asks', async () => {
    proxy = await HoldingProxy.launch(server.port);
    proxy.holdCommand('subscribe');
    const a = new RedisStateStore({ url: `redis://127.0.0.1:${proxy.port}`, ...SLOW });
    stores.push(a);
    const connected = a.connect();
    await until(() => proxy.holdingAny, 'the subscription to reach the proxy');
    // The command connection is up (a read goes through); Redis has not seen the subscription: not ready yet. Before,
    // connect() had resolved by then, and a lock request published meanwhile was never heard.
    expect(await a.read(newToken())).toBeNull();
    expect(await hasSettled(connected)).toBe(false);
    proxy.release();
    await connected;
    await handsKeptLockOver(a);
  }, 60_000);

  it('whenReady() on shared connections resolves only once Redis confirmed the subscription', async () => {
    proxy = await HoldingProxy.launch(server.port);
    const connections = await RedisConnections.create({ url: `redis://127.0.0.1:${proxy.port}`, logger: silent });
    connectionsToClose.push(connections);
    // Both connections up (as the module has them before its store starts), then the store's subscription is held.
    void connections.subscriber;
    await connections.ready();
    proxy.holdCommand('subscribe');
    const a = new RedisStateStore({ connections, ...SLOW });
    stores.push(a);
    const ready = a.whenReady(60_000);
    await until(() => proxy.holdingAny, 'the subscription to reach the proxy');
    expect(await a.read(newToken())).toBeNull();
    expect(await hasSettled(ready)).toBe(false);
    proxy.release();
    await ready;
    await handsKeptLockOver(a);
  }, 60_000);
});

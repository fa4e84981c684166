/**
 * A worker starting while its first Redis connection attempts fail (a Redis that restarts, a loaded machine whose
 * connection attempt timed out): it must open its port only once it reaches Redis, so that a tab connecting the moment
 * the port opens is admitted and hydrated, not refused `state_store_unavailable` (a Reflex tab shows its connection
 * error then, and tries again on its backoff). With one Redis and with a REAL Redis Cluster
 * (test/support/redis-cluster.ts), each node behind a proxy that resets the command connection's first attempts.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the specs are skipped, except
 * under CI=true, where they fail.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { InProcessTransport, ReflexBridgeModule, RedisStateStore, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';
import { ResettingProxy, type FailureBudget } from './support/resetting-proxy.js';

const COUNTER = 'reflex___state____state.counter_state';

/**
 * Starts a worker on `redis` (whose first connection attempts the proxies reset), connects a tab as soon as the app
 * listens, and checks it is let in, hydrated, and its event answered.
 */
async function tabAtFirstListen(redis: Pick<ReflexBridgeModuleOptions, 'redisUrl' | 'redisCluster' | 'stateStore' | 'live'>, proxies: ResettingProxy[], cleanup: Array<() => Promise<void>>): Promise<void> {
  const logger = new CapturingLogger();
  const worker: RunningApp = await startApp({ imports: [ReflexBridgeModule.forRoot(redis)], providers: [Clock, CounterState] }, undefined, logger);
  cleanup.push(() => worker.close());
  // The moment the port is open: before, the worker listened after its first failed attempt, and this tab was refused
  // "The server cannot reach its state store; try again shortly." (state_store_unavailable).
  const tab = new RawSocket(worker.url);
  cleanup.push(async () => void tab.close());
  await tab.connected();
  await tab.hydrate();
  tab.send(`${COUNTER}.increment`);
  await tab.untilVar(COUNTER, 'count', 1);
  expect(tab.errors).toEqual([]);
  expect(proxies.reduce((sum, proxy) => sum + proxy.reset, 0)).toBeGreaterThan(0);
}

describeWithRedis('a worker whose first connection attempts to one Redis fail', () => {
  let redis: RedisTestServer;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  }, 60_000);
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  }, 60_000);
  afterAll(async () => {
    await redis?.destroy();
  }, 60_000);

  it('listens once it reached Redis: a tab connecting the moment the port opens is admitted and hydrated', async () => {
    // The command connection's first attempt and two retries.
    const proxy = await ResettingProxy.launch(redis.port, 'rx:commands', 3);
    cleanup.push(() => proxy.close());
    await tabAtFirstListen({ redisUrl: proxy.url }, [proxy], cleanup);
  }, 120_000);

  it("with a state store the app made itself (its own Redis URL): listens once the store reached Redis, a tab connecting the moment the port opens is hydrated", async () => {
    // The store's own command connection: its first attempt and two retries.
    const proxy = await ResettingProxy.launch(redis.port, 'rx:state:commands', 3);
    cleanup.push(() => proxy.close());
    await tabAtFirstListen({ stateStore: new RedisStateStore({ url: proxy.url }) }, [proxy], cleanup);
  }, 120_000);
});

describeWithRedisCluster('a worker whose first connection attempts to a Redis Cluster fail', () => {
  let cluster: RedisTestCluster;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
  }, 180_000);
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  }, 60_000);
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it('listens once it reached the cluster: a tab connecting the moment the port opens is admitted and hydrated', async () => {
    const ports = (await cluster.layout()).map((node) => node.port);
    // The command connection's first two rounds over the root nodes fail (the subscriber's first succeeds).
    const proxies = await Promise.all(ports.map((port) => ResettingProxy.launch(port, 'rx:commands', 2)));
    cleanup.push(async () => void (await Promise.all(proxies.map((proxy) => proxy.close()))));
    const nodeAddressMap = Object.fromEntries(ports.map((port, i) => [`127.0.0.1:${port}`, { host: '127.0.0.1', port: proxies[i]!.port }]));
    await tabAtFirstListen({ redisCluster: { rootNodes: proxies.map((proxy) => proxy.url), nodeAddressMap } }, proxies, cleanup);
  }, 180_000);

  it('listens once it reached the cluster after a first attempt that a node answered nothing: a tab connecting the moment the port opens is admitted', async () => {
    const ports = (await cluster.layout()).map((node) => node.port);
    // The command connection's first attempt reaches a node that accepts it and answers nothing (frozen, or behind a
    // black hole): it takes its whole limit (connect timeout + waitTimeoutMs + 1 s, 7 s), then the next one succeeds.
    // Live changes go another way (no RedisTransport waiting for Redis first): before, the worker gave up waiting
    // after 5 s and listened while that attempt still ran, and this tab was refused state_store_unavailable.
    const silent: FailureBudget = { left: 1 };
    const proxies = await Promise.all(ports.map((port) => ResettingProxy.launch(port, 'rx:commands', silent, 'hold')));
    cleanup.push(async () => void (await Promise.all(proxies.map((proxy) => proxy.close()))));
    const nodeAddressMap = Object.fromEntries(ports.map((port, i) => [`127.0.0.1:${port}`, { host: '127.0.0.1', port: proxies[i]!.port }]));
    const redisCluster = { rootNodes: proxies.map((proxy) => proxy.url), nodeAddressMap };
    await tabAtFirstListen({ redisCluster, live: { transport: new InProcessTransport() } }, proxies, cleanup);
  }, 180_000);
});

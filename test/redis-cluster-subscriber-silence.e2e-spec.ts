/**
 * A worker's sharded subscription connection to one master of a REAL Redis Cluster (test/support/redis-cluster.ts)
 * whose network path goes silent (packets dropped both ways, nothing reset: a NAT or firewall that forgot the idle
 * flow). The master itself is fine and stays master, so no failover replaces that connection, and Redis still answers
 * every command: the worker heard nothing published on that master's slots (Socket.IO adapter broadcasts, live
 * updates) while `/_health` said 200. `/_health` must say so (a probe message per master must come back on the
 * subscriber), and the worker must replace the connection on its own: `/_health` says 200 again through a new
 * connection, re-subscribed.
 *
 * Every node is reached through a {@link SilencingProxy} (`redisCluster.nodeAddressMap`), which tells the worker's
 * connections apart by their ports (Redis's `CLIENT LIST`).
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { eventually } from './support/eventually.js';
import { startApp, type RunningApp } from './support/app.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';
import { SilencingProxy } from './support/silencing-proxy.js';

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/_health`);
  return { status: response.status, body: await response.json() };
}

/** The client port of each connection named `name` on the node on `port` that holds a sharded subscription. */
async function shardedSubscriberPorts(cluster: RedisTestCluster, port: number, name: string): Promise<number[]> {
  const list = await cluster.cli(port, 'CLIENT', 'LIST');
  return list
    .trim()
    .split('\n')
    .filter((line) => line.includes(` name=${name} `) && /\bssub=[1-9]/.test(line))
    .map((line) => Number(/\baddr=[^ ]*:(\d+) /.exec(line)![1]));
}

describeWithRedisCluster('a sharded subscription connection to one Redis Cluster master that goes silent', () => {
  let cluster: RedisTestCluster;
  const proxies = new Map<number, SilencingProxy>();
  let worker: RunningApp;

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    for (const node of cluster.nodes) proxies.set(node.port, await SilencingProxy.launch(node.port));
    const nodeAddressMap = Object.fromEntries([...proxies].map(([port, proxy]) => [`127.0.0.1:${port}`, { host: '127.0.0.1', port: proxy.port }]));
    // waitTimeoutMs sets how long a subscription connection's PING may wait (1 s more): 5 s leaves a wide window in
    // which the silent connection is not replaced yet, on a loaded machine.
    const redisCluster = { rootNodes: [...proxies.values()].map((proxy) => `redis://127.0.0.1:${proxy.port}`), nodeAddressMap, waitReplicas: 0, waitTimeoutMs: 5_000 };
    worker = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster, reflexRoutes: { checkTimeoutMs: 500, checkIntervalMs: 0 } })] });
  }, 180_000);

  afterAll(async () => {
    await worker?.close();
    for (const proxy of proxies.values()) await proxy.destroy();
    await cluster?.destroy();
  }, 60_000);

  it('makes /_health 503 while it is silent, and is replaced by a re-subscribed connection: 200 again', async () => {
    await eventually('/_health up', () => health(worker.url), (answer) => answer.status === 200, 30_000);
    // A master holding one of the worker's sharded subscriptions (the Socket.IO adapter's, at least).
    const [victim, ports] = await eventually(
      'a master with a sharded subscription of the worker',
      async () => {
        for (const port of await cluster.masterPorts()) {
          const found = await shardedSubscriberPorts(cluster, port, 'rx:subscriber');
          if (found.length > 0) return [port, found] as const;
        }
        return undefined;
      },
      (found) => found !== undefined,
    ).then((found) => found!);
    const proxy = proxies.get(victim)!;
    const index = proxy.indexOfUpstreamPort(ports[0]!);
    expect(index).toBeGreaterThanOrEqual(0);
    proxy.silence(index);

    // Before: 200, while nothing published on that master's slots reached the worker.
    expect(await health(worker.url)).toEqual({ status: 503, body: { status: false, redis: false } });
    await eventually('/_health up again, through a new connection', () => health(worker.url), (answer) => answer.status === 200, 60_000);
    // The silent connection is still open at Redis's end (nothing reset it): a new one came beside it.
    const now = await shardedSubscriberPorts(cluster, victim, 'rx:subscriber');
    expect(now.filter((port) => !ports.includes(port)).length).toBeGreaterThan(0);
  }, 180_000);
});

/**
 * `/_health` on a REAL Redis Cluster (three masters, three replicas; test/support/redis-cluster.ts) when one master
 * freezes (SIGSTOP: it keeps its connections and answers nothing): the tokens of its slots fail until a replica takes
 * over, so the health check must say so, and say "up" again once the replica serves them, the old master still frozen.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { InProcessTransport, ReflexBridgeModule } from '@reflex-bridge/nest';
import { eventually } from './support/eventually.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

/** The key the state store's health probe read before (a token no client holds): it lives on one master only. */
const PROBE_KEY = 'rx:state:v2:{reflex-bridge-health-probe}';

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/_health`);
  return { status: response.status, body: await response.json() };
}

describeWithRedisCluster('/_health on a Redis Cluster with a frozen master', () => {
  let cluster: RedisTestCluster;
  let worker: RunningApp;
  /** The state store on the cluster, live changes in process: its check alone must see the frozen master. */
  let storeOnly: RunningApp;
  /** Nest's logger is one per process: both apps log here. */
  const logger = new CapturingLogger();

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    // A check gives up after 300 ms, several times shorter than the cluster's failover (cluster-node-timeout 2 s, then
    // an election): the answer right after the freeze comes while the frozen master still holds its slots.
    const redisCluster = { rootNodes: cluster.rootNodes, waitReplicas: 0 };
    const reflexRoutes = { checkTimeoutMs: 300, checkIntervalMs: 0 };
    worker = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster, reflexRoutes })] }, undefined, logger);
    storeOnly = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster, reflexRoutes, live: { transport: new InProcessTransport() } })] }, undefined, logger);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([worker, storeOnly].map((app) => app?.close()));
    await cluster?.destroy();
  }, 60_000);

  it("answers 503 while a master that does not hold the probe's key is frozen, and 200 once its replica took over", async () => {
    for (const app of [worker, storeOnly]) {
      // The healthy answer itself is checked: another probe could miss the 300 ms limit on a loaded machine.
      expect(await eventually('/_health up', () => health(app.url), (answer) => answer.status === 200)).toEqual({ status: 200, body: { status: true, redis: true } });
    }
    const probed = await cluster.masterOf(await cluster.keyslot(PROBE_KEY));
    const victim = (await cluster.masterPorts()).find((port) => port !== probed)!;
    await cluster.untilReplicated(victim);
    // Only the checks that fail from the freeze on are read below: one slow before it (a long pause of this process)
    // would log a timeout that names no master.
    const linesBefore = logger.lines.length;
    cluster.freeze(victim);
    try {
      // Before: 200, since the probe read only reached its own key's master, while a third of the tokens failed.
      const [both, store] = await Promise.all([health(worker.url), health(storeOnly.url)]);
      expect(both).toEqual({ status: 503, body: { status: false, redis: false } });
      expect(store).toEqual({ status: 503, body: { status: false, redis: false } });
      // The log line names the frozen master and what it did not answer, for every failing check. Before, it said
      // '{"state_store":{"status":"down","message":"timeout of 300ms exceeded"},...}' though the probe knew which.
      const failing = logger.lines.slice(linesBefore).filter((line) => line.message.startsWith('The health check is failing'));
      expect(failing.length).toBeGreaterThanOrEqual(2);
      for (const line of failing) {
        const details = JSON.parse(line.message.slice(line.message.indexOf('{'))) as Record<string, { message: string }>;
        expect(Object.keys(details).length).toBeGreaterThan(0);
        for (const detail of Object.values(details)) {
          expect(detail.message).not.toMatch(/^timeout of/);
          expect(detail.message).toContain(`127.0.0.1:${victim}`);
        }
      }
      await cluster.untilFailedOver(victim);
      // The replica serves the slots: up again, though the old master (and the PING it holds) is still frozen.
      for (const app of [worker, storeOnly]) {
        await eventually('/_health up after the failover', () => health(app.url), (answer) => answer.status === 200, 30_000);
      }
    } finally {
      cluster.thaw(victim);
    }
  }, 180_000);
});

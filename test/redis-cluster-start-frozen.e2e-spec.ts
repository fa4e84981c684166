/**
 * A worker started while a Redis Cluster master is frozen (SIGSTOP: the kernel still accepts its connections, the
 * process answers nothing), on a REAL Redis Cluster (test/support/redis-cluster.ts). The frozen master is the first
 * of `rootNodes`, as the first node of an operator's list is. Once a replica took its place, the worker must connect
 * and serve, while the old master stays frozen.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { CapturingLogger } from './support/app.js';
import { until } from './support/eventually.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

describeWithRedisCluster('a worker started while a Redis Cluster master is frozen or dead', () => {
  let cluster: RedisTestCluster;
  const opened: RedisConnections[] = [];
  let frozen: number | undefined;

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
  }, 180_000);

  afterAll(async () => {
    if (frozen !== undefined) cluster.thaw(frozen);
    for (const connections of opened) await connections.close();
    await cluster?.destroy();
  }, 60_000);

  it('connects once a replica took the frozen master\'s place, and serves every slot', async () => {
    const victim = (await cluster.masterPorts())[0]!;
    const rootNodes = [`redis://127.0.0.1:${victim}`, ...cluster.rootNodes.filter((url) => url !== `redis://127.0.0.1:${victim}`)];
    await cluster.untilReplicated(victim);
    cluster.freeze((frozen = victim));
    const connections = await RedisConnections.create({ cluster: { rootNodes, waitReplicas: 0 }, connectTimeoutMs: 1_000, logger: new CapturingLogger() });
    opened.push(connections);
    await cluster.untilFailedOver(victim);
    // Before: the first connection waited for the frozen node's answer (the layout, or a master's handshake) for good.
    await servesEverySlot(connections);
  }, 180_000);

  it('connects once a replica took the dead master\'s place, and serves every slot', async () => {
    if (frozen !== undefined) {
      // The frozen master of the test above thaws and rejoins as a replica: every master has one again.
      cluster.thaw(frozen);
      frozen = undefined;
    }
    const layout = await cluster.layout();
    const victim = layout.find((node) => node.role === 'master' && !node.failed && layout.some((replica) => replica.masterId === node.id && !replica.failed))!.port;
    await cluster.untilReplicated(victim);
    await cluster.kill(victim);
    const connections = await RedisConnections.create({ cluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 }, connectTimeoutMs: 1_000, logger: new CapturingLogger() });
    opened.push(connections);
    await cluster.untilFailedOver(victim);
    await servesEverySlot(connections);
  }, 180_000);

  /** Waits for the command connection, then sets and reads keys all over the slots. */
  const servesEverySlot = async (connections: RedisConnections) => {
    await until(() => connections.clusterCommands!.isReady || undefined, 'the command connection', 60_000);
    for (let i = 0; i < 30; i++) {
      await connections.commands.set(`rx:test:{${i}}`, String(i));
      expect(await connections.commands.get(`rx:test:{${i}}`)).toBe(String(i));
    }
  };
});

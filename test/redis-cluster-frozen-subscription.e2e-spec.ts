/**
 * A Redis Cluster master that is frozen (SIGSTOP: it keeps its connections and answers nothing) when a worker first
 * subscribes on it, on a REAL Redis Cluster (test/support/redis-cluster.ts). Its replica is told not to fail over,
 * so the master stays frozen and in the layout for as long as the test runs: the other masters' sharded channels
 * (the Socket.IO adapter's rooms, the health probe's, `rx:resync`) must still be subscribed and heard meanwhile.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import calculateSlot from 'cluster-key-slot';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { CapturingLogger } from './support/app.js';
import { until } from './support/eventually.js';
import { describeWithRedisCluster, RedisTestCluster, type ClusterNodeInfo } from './support/redis-cluster.js';

/** A channel `<prefix>{n}` whose slot `master` serves. */
function channelOn(master: ClusterNodeInfo, prefix: string): string {
  for (let n = 0; ; n++) {
    const channel = `${prefix}{${n}}`;
    const slot = calculateSlot(channel);
    if (master.slots.some(([from, to]) => slot >= from && slot <= to)) return channel;
  }
}

describeWithRedisCluster('a Redis Cluster master frozen when a worker first subscribes', () => {
  let cluster: RedisTestCluster;
  let connections: RedisConnections | undefined;
  let frozen: number | undefined;

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
  }, 180_000);

  afterAll(async () => {
    if (frozen !== undefined) cluster.thaw(frozen);
    await connections?.close();
    await cluster?.destroy();
  }, 60_000);

  it("subscribes and hears the other masters' sharded channels while the frozen one's subscription waits", async () => {
    const layout = await cluster.layout();
    const masters = layout.filter((node) => node.role === 'master' && !node.failed && node.slots.length > 0);
    const victim = masters[0]!;
    // No failover: the frozen master keeps its slots, as with a replica that is down, lagging, or on the same frozen VM.
    for (const replica of layout.filter((node) => node.masterId === victim.id)) await cluster.cli(replica.port, 'CONFIG', 'SET', 'cluster-replica-no-failover', 'yes');
    connections = await RedisConnections.create({ cluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 }, logger: new CapturingLogger() });
    await connections.ready();
    const subscriber = connections.clusterSubscriber!;
    const commands = connections.clusterCommands!;

    cluster.freeze((frozen = victim.port));
    // The first subscription on the frozen master: it waits (for the thaw, here), and must not hold the others.
    subscriber.sSubscribe(channelOn(victim, 'rx:test:frozen'), () => undefined).catch(() => undefined);
    const heard: string[] = [];
    for (const master of masters.slice(1)) {
      const channel = channelOn(master, 'rx:test:other');
      // Before: queued behind the frozen master's subscription, it never resolved (until a failover).
      await subscriber.sSubscribe(channel, (message) => void heard.push(message));
      await commands.sPublish(channel, `hello ${master.port}`);
    }
    await until(() => heard.length === masters.length - 1 || undefined, "the other masters' messages");
    expect(heard.sort()).toEqual(masters.slice(1).map((master) => `hello ${master.port}`).sort());
    // Still frozen and master of its slots (the others may have flagged it failed): nothing above waited for a failover.
    expect((await cluster.layout()).find((node) => node.port === victim.port)).toMatchObject({ role: 'master', slots: victim.slots });
  }, 90_000);
});

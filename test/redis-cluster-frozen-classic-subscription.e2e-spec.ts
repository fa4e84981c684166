/**
 * The node carrying a worker's classic (not sharded) subscriptions, such as the live updates' channel, freezes
 * (SIGSTOP: it keeps its connections and answers nothing) with no failover to replace it, on a REAL Redis Cluster
 * (test/support/redis-cluster.ts). node-redis picks that node at random among all of them, masters and replicas, and
 * sends every classic SUBSCRIBE there: a subscription made now must not wait for the thaw, and the channels
 * subscribed before must be heard again, through another node.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { CapturingLogger } from './support/app.js';
import { eventually } from './support/eventually.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

describeWithRedisCluster('the node of the classic subscriptions frozen, no failover', () => {
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

  it('subscribes a new channel through another node, and hears the channels subscribed before', async () => {
    connections = await RedisConnections.create({ cluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 }, logger: new CapturingLogger() });
    await connections.ready();
    const subscriber = connections.clusterSubscriber!;
    const heard: string[] = [];
    await subscriber.subscribe('rx:test:before', (message) => void heard.push(message));
    const gone = (message: string) => void heard.push(`gone: ${message}`);
    await subscriber.subscribe('rx:test:gone', gone);
    const address = (subscriber.cluster as unknown as { _slots: { pubSubNode?: { address: string } } })._slots.pubSubNode!.address;
    const port = Number(address.split(':')[1]);
    const layout = await cluster.layout();
    const node = layout.find((candidate) => candidate.port === port)!;
    // No failover: a frozen master keeps its slots (and a frozen replica is never replaced).
    for (const replica of layout.filter((candidate) => candidate.masterId === node.id)) await cluster.cli(replica.port, 'CONFIG', 'SET', 'cluster-replica-no-failover', 'yes');
    cluster.freeze((frozen = port));

    // Leaving a channel must not hold the classic channels' queue either.
    const left = subscriber.unsubscribe('rx:test:gone', gone);
    const subscribed = left.then(() => subscriber.subscribe('rx:test:after', (message) => void heard.push(message)));
    // Before: it failed ("Disconnects client": the subscription probe reopened the connection, to the same frozen
    // node), or waited for the thaw when the node was frozen before the connection was ready. The retry comes after the subscriber's stall time (about 2 s): a deadline
    // many times longer.
    const outcome = await Promise.race([subscribed.then(() => 'subscribed', (error: Error) => `failed: ${error.message}`), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 30_000).unref())]);
    expect(outcome).toBe('subscribed');
    const other = layout.find((candidate) => candidate.port !== port)!.port;
    await cluster.cli(other, 'PUBLISH', 'rx:test:gone', 'left');
    for (const channel of ['rx:test:before', 'rx:test:after']) {
      await eventually(`a message on ${channel}`, async () => (await cluster.cli(other, 'PUBLISH', channel, channel), heard), (seen) => seen.includes(channel), 30_000);
    }
    // Published before those, on the same path: the channel left is not heard.
    expect(heard.filter((message) => message.startsWith('gone'))).toEqual([]);
  }, 180_000);
});

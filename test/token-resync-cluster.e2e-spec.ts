/**
 * The token resync (`rx:resync`, see token-resync.e2e-spec.ts) on a REAL Redis Cluster (test/support/redis-cluster.ts),
 * where the Socket.IO adapter broadcasts on sharded channels, each on the master of its room's slot: two workers, a
 * tab on one, a change made on the other while the master of the tab's room channel is dead (SIGKILL). The change is
 * committed (the token's state lives on another master) and its broadcast dropped; the tab must show it once a replica
 * took over, and so when that master freezes (SIGSTOP) instead.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedisCluster, RedisTestCluster, type ClusterNodeInfo } from './support/redis-cluster.js';

const COUNTER = 'reflex___state____state.counter_state';

describeWithRedisCluster('a tab that missed a change made on another worker, on a Redis Cluster', () => {
  let cluster: RedisTestCluster;
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    // As docs/deploy.md advises: with the default (yes), every node answers CLUSTERDOWN from the moment the dead
    // master is marked failed until its replica took over, and the change below would fail instead of being committed.
    for (const node of await cluster.layout()) await cluster.cli(node.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    const redisCluster = { rootNodes: cluster.rootNodes, waitReplicas: 0 };
    for (let i = 0; i < 2; i++) apps.push(await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster })], providers: [Clock, CounterState] }, undefined, logger));
  }, 180_000);

  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.allSettled(apps.map((app) => app.close()));
    await cluster?.destroy();
  }, 60_000);

  /**
   * A tab on A whose room channel lives on a master (with a live replica) that holds neither the token's state nor the
   * resync channel; `fail` takes that master out, then B changes the tab's state, and the tab must show the change.
   */
  const scenario = async (fail: (port: number) => Promise<void>, recover: (port: number) => void) => {
    const [a, b] = apps as [RunningApp, RunningApp];
    // Both workers connected to every master: after the previous scenario's failover one may still be connecting to
    // the promoted replica (the tab could get there first, its handshake refused 'state_store_unavailable').
    for (const app of apps) await eventually('/_health up', async () => (await fetch(`${app.url}/_health`)).status, (status) => status === 200, 60_000);
    const layout = await cluster.layout();
    const masters = layout.filter((node) => node.role === 'master' && !node.failed);
    const replicated = (master: ClusterNodeInfo) => layout.some((node) => node.masterId === master.id && !node.failed);
    const masterOf = (key: string) => masters.find((master) => master.slots.some(([from, to]) => calculateSlot(key) >= from && calculateSlot(key) <= to))!;
    const room = (token: string) => masterOf(`rx:io#/_event#rx:token:${token}#`);
    let token: string;
    do token = randomUUID();
    while (!replicated(room(token)) || room(token) === masterOf(`rx:state:v2:{${token}}`) || room(token) === masterOf('rx:resync'));
    const victim = room(token).port;

    const tab = new RawSocket(a.url, token);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 1));
    await tab.untilVar(COUNTER, 'count', 1);

    await cluster.untilReplicated(victim);
    await fail(victim);
    try {
      await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 2));
      expect(await b.app.get(ReflexStateService).read(tab.token, CounterState)).toMatchObject({ count: 2 });
      await cluster.untilFailedOver(victim);
      // The broadcast went to the lost master (or, on the new one, before A subscribed there again): before B
      // published the token on rx:resync (or A resynced its tabs once its subscriber was back), the tab showed 1 for
      // good (it does with the resync switched off).
      await tab.untilVar(COUNTER, 'count', 2, 60_000);
      expect(tab.latest(COUNTER, 'doubled')).toBe(4);
    } finally {
      recover(victim);
    }
  };

  it("is sent its state once the master of its room's channel died and a replica took over", async () => {
    await scenario(
      (port) => cluster.kill(port),
      () => undefined,
    );
  }, 180_000);

  it("is sent its state once the master of its room's channel froze and a replica took over", async () => {
    await scenario(
      async (port) => cluster.freeze(port),
      (port) => cluster.thaw(port),
    );
  }, 180_000);
});

/**
 * A REAL Redis Cluster (three masters, three replicas; test/support/redis-cluster.ts) where one master freezes
 * (SIGSTOP: it keeps its connections and answers nothing) and its replica may not fail over
 * (`cluster-replica-no-failover yes`), then wakes up (SIGCONT). The nodes run `cluster-require-full-coverage no`, as
 * docs/deploy.md advises, so the other masters' slots keep serving. Two workers, A and B; a tab connects to A during
 * the freeze, its state on a master that answers, its Socket.IO room's sharded channel on the frozen one.
 *
 * What a user sees: the tab is admitted and its events answered during the freeze (nothing of the worker waits for
 * the frozen master), `/_health` answers 503 `redis: false` on every worker while it lasts and 200 once the master
 * answers again, the warnings say what still works, and after the thaw the tab hears the changes other workers make
 * to its state.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { RedisConnections, ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually, until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedisCluster, RedisTestCluster, type ClusterNodeInfo } from './support/redis-cluster.js';

const COUNTER = 'reflex___state____state.counter_state';

/** The sharded channel of a tab's Socket.IO room (the adapter's `channelPrefix` `rx:io`, the `/_event` namespace). */
const roomChannel = (token: string) => `rx:io#/_event#rx:token:${token}#`;

/** The node-redis internals read to see the frozen master's subscription connection dropped (see below). */
interface SubscriberInternals {
  masters: { address: string; pubSub?: { client: { isReady: boolean } } }[];
}

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/_health`);
  return { status: response.status, body: await response.json() };
}

describeWithRedisCluster('a Redis Cluster master frozen with no failover, then thawed', () => {
  let cluster: RedisTestCluster;
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  /** Nest's logger is one per process: both workers log here. */
  const logger = new CapturingLogger();
  let frozen: number | undefined;

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    for (const node of await cluster.layout()) await cluster.cli(node.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    const redisCluster = { rootNodes: cluster.rootNodes, waitReplicas: 0 };
    for (let i = 0; i < 2; i++) apps.push(await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster })], providers: [Clock, CounterState] }, undefined, logger));
  }, 180_000);

  afterAll(async () => {
    if (frozen !== undefined) cluster.thaw(frozen);
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.allSettled(apps.map((app) => app.close()));
    await cluster?.destroy();
  }, 60_000);

  it("serves the other masters' tabs, answers 503 until the thaw, and a tab that joined meanwhile hears other workers after it", async () => {
    const [a, b] = apps as [RunningApp, RunningApp];
    const layout = await cluster.layout();
    const masters = layout.filter((node) => node.role === 'master' && !node.failed && node.slots.length > 0);
    const masterOf = (key: string) => masters.find((master) => master.slots.some(([from, to]) => calculateSlot(key) >= from && calculateSlot(key) <= to))!;
    // Not the master of the resync channel nor of the adapter's own channel: only the tab's room is on it.
    const victim: ClusterNodeInfo = masters.find((master) => master !== masterOf('rx:resync') && master !== masterOf('rx:io#/_event#'))!;
    /** A token whose room's channel is on the victim and whose state is not. */
    const tokenOnVictim = () => {
      let token: string;
      do token = randomUUID();
      while (masterOf(roomChannel(token)) !== victim || masterOf(`rx:state:v2:{${token}}`) === victim);
      return token;
    };
    const [token, leaving, later] = [tokenOnVictim(), tokenOnVictim(), tokenOnVictim()];
    const connect = async (token: string) => {
      const tab = new RawSocket(a.url, token);
      sockets.push(tab);
      await tab.connected();
      await tab.hydrate();
      return tab;
    };

    // Both workers healthy: A's subscription connection to every master is open (its probe subscribed a channel on each).
    for (const app of [a, b]) await eventually('/_health up', () => health(app.url), (answer) => answer.status === 200, 60_000);
    for (const replica of layout.filter((node) => node.masterId === victim.id)) await cluster.cli(replica.port, 'CONFIG', 'SET', 'cluster-replica-no-failover', 'yes');
    cluster.freeze((frozen = victim.port));

    // Admitted, hydrated and answered at once: its state lives on a master that answers.
    const tab = await connect(token);
    tab.send(`${COUNTER}.increment`);
    await tab.untilVar(COUNTER, 'count', 1);

    // A drops its subscription connection to the frozen master (a PING there unanswered for waitTimeoutMs + 1 s) and
    // opens it again, which waits for the thaw. Before, the room's SSUBSCRIBE sent on it was failed with it ("a
    // subscription failed (Disconnects client)"), and the new connection subscribed only the channels made before.
    const subscriber = a.app.get(RedisConnections).clusterSubscriber!;
    const internals = subscriber.cluster as unknown as SubscriberInternals;
    await until(() => internals.masters.find((master) => master.address.endsWith(`:${victim.port}`))?.pubSub?.client.isReady === false, "A's subscription connection to the frozen master to be dropped", 60_000);

    // A tab that comes and goes during the freeze: its room's subscription, made at the thaw, must not stay behind.
    // Then one more tab, whose subscription is queued after that room was left.
    const gateway = a.app.get(EventGateway);
    (await connect(leaving)).close();
    await until(() => !gateway.server!.adapter.rooms.has(`rx:token:${leaving}`), 'the leaving tab\'s room to be deleted on A');
    const laterTab = await connect(later);

    // Every worker reports the frozen master's slots as unavailable; a load balancer sees each of them unhealthy.
    for (const app of [a, b]) expect(await health(app.url)).toEqual({ status: 503, body: { status: false, redis: false } });
    // The warnings say what goes on: publishing moves to the nodes that answer, only that master's tokens fail. Before,
    // they said "Publishing fails until it is back" and "events fail until it is back".
    const warnings = logger.lines.filter((line) => line.level === 'warn').map((line) => line.message);
    expect(warnings.filter((message) => /fails? until it is back/.test(message))).toEqual([]);
    expect(warnings.filter((message) => message.startsWith('RedisTransport publisher connection')).every((message) => message.includes('publishing goes on through the nodes that answer'))).toBe(true);
    expect(warnings.some((message) => message.startsWith('RedisTransport publisher connection'))).toBe(true);
    // The worker's command connection, which said "reconnecting" while the other masters served on.
    const commands = warnings.filter((message) => message.startsWith('Redis connection rx:commands'));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter((message) => !message.includes('the other nodes serve on'))).toEqual([]);

    cluster.thaw(victim.port);
    frozen = undefined;
    for (const app of [a, b]) await eventually('/_health up after the thaw', () => health(app.url), (answer) => answer.status === 200, 60_000);

    // B changes the tab's state until one change reaches it (A subscribes the room once the master answers) ...
    const service = b.app.get(ReflexStateService);
    let count = 1;
    await eventually(
      "a change made on B to reach the tab on A after the thaw",
      async () => (await service.modify(token, CounterState, (counter) => void (counter.count = ++count)), tab.latest(COUNTER, 'count') as number),
      (shown) => shown > 1,
      60_000,
    );
    // ... and then every one: the first may also have come by the resync that follows the subscriber's recovery.
    await service.modify(token, CounterState, (counter) => void (counter.count = 1_000));
    await tab.untilVar(COUNTER, 'count', 1_000, 60_000);
    // The later tab hears B too, so the left room's (un)subscription, queued before its own, is done: nobody listens there.
    await service.modify(later, CounterState, (counter) => void (counter.count = 2_000));
    await laterTab.untilVar(COUNTER, 'count', 2_000, 60_000);
    const subscribers = async (channel: string) => Number((await cluster.cli(victim.port, 'PUBSUB', 'SHARDNUMSUB', channel)).trim().split('\n').at(-1));
    expect(await subscribers(roomChannel(leaving))).toBe(0);
    expect(await subscribers(roomChannel(token))).toBe(1);
    expect(logger.lines.filter((line) => line.message.startsWith('Socket.IO adapter: a subscription failed')).map((line) => line.message)).toEqual([]);
  }, 300_000);
});

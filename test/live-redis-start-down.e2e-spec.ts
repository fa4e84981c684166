/**
 * A worker started while live updates cannot reach Redis: a single Redis that is down, or a Redis Cluster master
 * dead with no replica to take its place yet (a REAL cluster, test/support/redis-cluster.ts). As with the in-process
 * transport, whose app starts and whose events get `state_unavailable` until Redis is back, the worker must start:
 * `/_health` says 503 and a change published meanwhile is refused at once, then live updates flow once Redis is back,
 * without a restart.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the specs are skipped, except
 * under CI=true, where they fail.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { firstValueFrom } from 'rxjs';
import { LiveBroadcaster, ModelChange, ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { LiveTransportError } from '../libs/reflex-bridge/src/live/live-transport.error.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually, until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

async function health(url: string): Promise<number> {
  return (await fetch(`${url}/_health`)).status;
}

const reflexRoutes = { checkTimeoutMs: 500, checkIntervalMs: 0 };

/**
 * Starts a worker on `redis` while it is unreachable, checks it serves and refuses changes, then brings Redis back.
 * `exact` (one Redis, whose outage is one outage): one warning from the transport however many attempts failed, and
 * the first change published after `transportStatus$` said `up` comes back to this worker's subscriber.
 */
async function startsWhileDown(redis: Pick<ReflexBridgeModuleOptions, 'redisUrl' | 'redisCluster'>, bringBack: () => Promise<void>, apps: RunningApp[], exact = false): Promise<void> {
  const logger = new CapturingLogger();
  // Before: the bootstrap failed with "LiveTransportError: RedisTransport could not connect to … within 5000 ms".
  const worker = await startApp({ imports: [ReflexBridgeModule.forRoot({ ...redis, reflexRoutes, ...(exact ? { live: { echoTimeoutMs: 600_000 } } : {}) })] }, undefined, logger);
  apps.push(worker);
  expect(await health(worker.url)).toBe(503);
  const live = worker.app.get(LiveBroadcaster);
  const statuses: string[] = [];
  live.transportStatus$.subscribe((status) => statuses.push(status));
  // Refused at once rather than waiting for Redis (no offline queue for commands).
  await expect(live.publish(new ModelChange('test.item', 'updated', 1))).rejects.toBeInstanceOf(LiveTransportError);
  const transportLines = (level: string) => logger.lines.filter((line) => line.level === level && line.message.startsWith('RedisTransport'));
  if (exact) {
    // Before: a warning at start, then one more for each connection at its next failed attempt.
    await until(() => transportLines('debug').length >= 2 || undefined, 'further connection attempts');
    expect(transportLines('warn')).toHaveLength(1);
  }
  await bringBack();
  await eventually('/_health up once Redis is back', () => health(worker.url), (status) => status === 200, 60_000);
  // The channel was subscribed in the background: a change now makes the round trip.
  const received = firstValueFrom(live.observe('test.item'));
  if (exact) {
    await until(() => statuses.at(-1) === 'up' || undefined, "transportStatus$ 'up'");
    expect(statuses).toEqual(['down', 'up']);
    // The first publish after 'up' reaches this worker's subscriber (a label nobody here observes gets 0, promptly).
    expect(await live.publish(new ModelChange('test.item', 'updated', 2))).toBe(1);
    expect(await live.publish(new ModelChange('test.unwatched', 'updated', 2))).toBe(0);
    expect(transportLines('warn')).toHaveLength(1);
  } else {
    await eventually('a change to come back through Redis', () => live.publish(new ModelChange('test.item', 'updated', 2)), (reached) => reached === 1, 60_000);
  }
  expect((await received).pk).toBe(2);
  // The log says what happened, both ways.
  expect(logger.lines.some((line) => line.level === 'warn' && /RedisTransport: .* is not reachable yet; started without it/.test(line.message))).toBe(true);
  expect(logger.lines.some((line) => /RedisTransport: subscribed to "reflex-bridge:live" .*; live changes flow/.test(line.message))).toBe(true);
}

describeWithRedis('a worker started while its Redis is down', () => {
  let server: RedisTestServer;
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    server = await RedisTestServer.launch();
    await server.stop();
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(apps.map((app) => app.close()));
    await server?.stop();
  }, 60_000);

  it('starts, answers 503 and refuses changes, then carries live updates once Redis is up', async () => {
    await startsWhileDown({ redisUrl: server.url }, () => server.start(), apps, true);
  }, 120_000);
});

describeWithRedisCluster('a worker started while a Redis Cluster master and its replica are dead', () => {
  let cluster: RedisTestCluster;
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled(apps.map((app) => app.close()));
    await cluster?.destroy();
  }, 60_000);

  it('starts, answers 503 and refuses changes, then carries live updates once the master is back', async () => {
    const layout = await cluster.layout();
    const master = layout.find((node) => node.role === 'master' && layout.some((replica) => replica.masterId === node.id))!;
    const replica = layout.find((node) => node.masterId === master.id)!;
    await cluster.untilReplicated(master.port);
    // No failover can take the dead master's slots: the state the cluster is in for cluster-node-timeout (15 s by
    // default) after a master dies, here for as long as the test needs.
    await Promise.all([cluster.kill(replica.port), cluster.kill(master.port)]);
    await startsWhileDown(
      { redisCluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 } },
      () => Promise.all([cluster.restart(master.port), cluster.restart(replica.port)]).then(() => undefined),
      apps,
    );
  }, 240_000);
});

/**
 * A worker whose live transport has a server of its own (`new RedisTransport({ url })`, `PostgresTransport`) that is
 * down when the worker starts. As with the transport on the module's shared Redis connections
 * (test/live-redis-start-down.e2e-spec.ts), the worker must start and serve: one warning, `/_health` 503,
 * `transportStatus$` 'down', publishes refused at once with `unavailable`; then, once the server is back (a REAL
 * redis-server or PostgreSQL, stopped and started here), 'up', and changes flow both ways without a restart.
 *
 * Needs redis-server and PostgreSQL. Without them the specs are skipped, except under CI=true, where they fail.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { LiveBroadcaster, ModelChange, PostgresTransport, RedisTransport, ReflexBridgeModule, type LiveTransport, type LiveTransportStatus } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually, until } from './support/eventually.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const reflexRoutes = { checkTimeoutMs: 500, checkIntervalMs: 0 };
/**
 * Longer than any wait below: a publish whose echo did not come back would hold the test past its timeout, so a
 * publish that resolves says its change came back through the transport.
 */
const echoTimeoutMs = 600_000;

async function health(url: string): Promise<number> {
  return (await fetch(`${url}/_health`)).status;
}

/** What one worker (and, once the server is back, a second one on the same channel) sees around the outage. */
interface Outage {
  /** The worker's transport, its server down. */
  transport: LiveTransport;
  /** How the transport's lines start. */
  name: 'RedisTransport' | 'PostgresTransport';
  /** Starts the server again. */
  bringBack: () => Promise<void>;
  /** A transport for a second worker on the same channel (started once the server is back). */
  peer: () => LiveTransport;
}

async function startsDownThenRecovers({ transport, name, bringBack, peer }: Outage, cleanup: Array<() => Promise<unknown>>): Promise<void> {
  const logger = new CapturingLogger();
  // Before: the bootstrap failed ("RedisTransport could not connect to …: gave up after 5 connection attempts",
  // "PostgresTransport could not LISTEN on …: connect ECONNREFUSED"): the process manager restarted the app until the
  // live server was back, though the same app on the module's shared Redis connections starts and serves.
  const worker: RunningApp = await startApp({ imports: [ReflexBridgeModule.forRoot({ reflexRoutes, live: { transport, echoTimeoutMs } })] }, undefined, logger);
  cleanup.push(() => worker.close());
  const live = worker.app.get(LiveBroadcaster);
  // Subscribed after the module started the transport, as an app's own provider does in its onModuleInit.
  const statuses: LiveTransportStatus[] = [];
  live.transportStatus$.subscribe((status) => statuses.push(status));
  expect(statuses).toEqual(['down']);
  expect(transport.isConnected()).toBe(false);
  expect(await health(worker.url)).toBe(503);
  await expect(live.publish(new ModelChange('test.item', 'updated', 'while-down'))).rejects.toMatchObject({ code: 'unavailable' });

  // The transport keeps trying (its attempts are logged at debug level), and one warning said it all.
  const lines = (level: string) => logger.lines.filter((line) => line.level === level && line.message.startsWith(name));
  await until(() => lines('debug').length >= 2 || undefined, `${name}'s further connection attempts`);
  expect(lines('warn').map((line) => line.message)).toEqual([expect.stringMatching(/started without it/)]);

  await bringBack();
  await until(() => statuses.at(-1) === 'up' || undefined, "transportStatus$ 'up' once the server is back", 60_000);
  expect(statuses).toEqual(['down', 'up']);
  // The first publish after 'up' makes the round trip: it reaches this worker's subscriber, not 0.
  const received: ModelChange[] = [];
  live.observe('test.item').subscribe((change) => received.push(change));
  expect(await live.publish(new ModelChange('test.item', 'updated', 'after'))).toBe(1);
  expect(received.map((change) => change.pk)).toEqual(['after']);
  // 0 means that no subscriber of the label is on this worker, not that the change was lost: its echo came back.
  expect(await live.publish(new ModelChange('test.unwatched', 'updated', 1))).toBe(0);
  expect(logger.lines.filter((line) => /did not come back/.test(line.message))).toEqual([]);

  // Another worker's change reaches this one: the subscription made in the background receives.
  const other = new LiveBroadcaster(peer(), { echoTimeoutMs });
  cleanup.push(() => other.close());
  await other.start();
  await other.publish(new ModelChange('test.item', 'updated', 'from-peer'));
  await until(() => received.some((change) => change.pk === 'from-peer') || undefined, "the other worker's change");
  await eventually('/_health 200 once the server is back', () => health(worker.url), (status) => status === 200, 30_000);
  expect(lines('warn')).toHaveLength(1);
  expect(logger.lines.some((line) => line.level === 'log' && line.message.startsWith(name) && /live changes flow/.test(line.message))).toBe(true);
}

describeWithRedis('a RedisTransport of its own (url) whose Redis is down at start', () => {
  let server: RedisTestServer;
  const cleanup: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await RedisTestServer.launch();
    await server.stop();
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(cleanup.splice(0).reverse().map((close) => close()));
    await server?.destroy();
  }, 60_000);

  it('starts the app down with one warning, refuses publishes, then carries changes both ways once Redis is up', async () => {
    const channel = `own-start-down-${process.pid}`;
    await startsDownThenRecovers(
      {
        transport: new RedisTransport({ url: server.url, channel, maxReconnectDelayMs: 200 }),
        name: 'RedisTransport',
        bringBack: () => server.start(),
        peer: () => new RedisTransport({ url: server.url, channel }),
      },
      cleanup,
    );
  }, 120_000);
});

describeWithPostgres('a PostgresTransport whose Postgres is down at start', () => {
  let server: PostgresTestServer;
  const cleanup: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await PostgresTestServer.launch();
    await server.stop();
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(cleanup.splice(0).reverse().map((close) => close()));
    await server?.destroy();
  }, 60_000);

  it('starts the app down with one warning, refuses publishes, then carries changes both ways once Postgres is up', async () => {
    const channel = `own_start_down_${process.pid}`;
    const options = { connectionString: server.connectionString, channel, minReconnectDelayMs: 50, maxReconnectDelayMs: 300 };
    await startsDownThenRecovers(
      { transport: new PostgresTransport(options), name: 'PostgresTransport', bringBack: () => server.start(), peer: () => new PostgresTransport(options) },
      cleanup,
    );
  }, 120_000);
});

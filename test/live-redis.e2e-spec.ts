import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createClient } from 'redis';
import { describeLiveTransportContract } from '@reflex-bridge/nest/testing';
import { LiveBroadcaster } from '../libs/reflex-bridge/src/live/live-broadcaster.service.js';
import { waitUntil } from '../libs/reflex-bridge/src/live/live-transport.contract.js';
import { LiveTransportError } from '../libs/reflex-bridge/src/live/live-transport.error.js';
import { ModelChange } from '../libs/reflex-bridge/src/live/model-change.js';
import { RedisTransport } from '../libs/reflex-bridge/src/live/transports/redis.transport.js';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

/** Connections created by a test, closed after its transports. */
const connectionsToClose: RedisConnections[] = [];

/** A worker's shared connections, as the module creates them with `redisUrl`. */
async function sharedConnections(url: string): Promise<RedisConnections> {
  const connections = await RedisConnections.create({ url, maxReconnectDelayMs: 200 });
  connectionsToClose.push(connections);
  return connections;
}

/**
 * Two workers (broadcaster + transport each) on one channel, recording what their subscribers receive. `shared`:
 * each worker's transport runs on that worker's shared {@link RedisConnections} instead of connections of its own.
 */
async function twoWorkers(url: string, channel: string, shared = false) {
  const transports = await Promise.all(
    [0, 1].map(async () =>
      shared ? new RedisTransport({ connections: await sharedConnections(url), channel }) : new RedisTransport({ url, channel, maxReconnectDelayMs: 200 }),
    ),
  );
  // A short echo timeout: while Redis is away the sender's own echo cannot come back, and probes should not wait.
  const brokers = transports.map((transport) => new LiveBroadcaster(transport, { echoTimeoutMs: 300 }));
  await Promise.all(brokers.map((broker) => broker.start()));
  const seen: ModelChange[][] = [[], []];
  brokers.forEach((broker, i) => broker.observe('shop.product').subscribe((change) => seen[i].push(change)));
  const probes = [0, 0];
  brokers.forEach((broker, i) => broker.observe('probe.ping').subscribe((change) => (probes[i] = Number(change.pk))));
  return { transports, brokers, seen, probes };
}

/** Publishes probes from worker 0 until both workers receive one: proof that both directions work again. */
async function untilDeliveryResumes(brokers: LiveBroadcaster[], probes: number[], timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  for (let n = 1; ; n += 1) {
    // Through every worker's publisher, not only the first's: each reconnects on its own, and a test that publishes
    // through another next found it still reconnecting.
    let published = 0;
    for (const broker of brokers) {
      try {
        await broker.publish(new ModelChange('probe.ping', 'updated', n));
        published += 1;
      } catch (error) {
        expect(error).toBeInstanceOf(LiveTransportError);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (published === brokers.length && probes[0] === n && probes[1] === n) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`delivery did not resume within ${timeoutMs} ms`);
  }
}

describeWithRedis('RedisTransport against a real redis-server', () => {
  let server: RedisTestServer;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    server = await RedisTestServer.launch();
  }, 30_000);

  afterEach(async () => {
    await Promise.allSettled(cleanup.splice(0).map((close) => close()));
    await Promise.allSettled(connectionsToClose.splice(0).map((connections) => connections.close()));
  });

  afterAll(async () => {
    await server?.destroy();
  });

  describeLiveTransportContract('RedisTransport', (channel) => new RedisTransport({ url: server.url, channel }));
  describeLiveTransportContract('RedisTransport on shared RedisConnections', async (channel) => new RedisTransport({ connections: await sharedConnections(server.url), channel }));

  it.each([
    ['its own connections', false],
    ['shared connections (re-subscribed by node-redis when the shared subscriber reconnects)', true],
  ])('refuses publishing while Redis is down, then resumes delivery after it restarts, with the same transports: %s', async (_, shared) => {
    const { transports, brokers, seen, probes } = await twoWorkers(server.url, shared ? 'restart_redis_shared' : 'restart_redis', shared);
    cleanup.push(...brokers.map((broker) => () => broker.close()));

    expect(await brokers[0].publish(new ModelChange('shop.product', 'updated', 'before'))).toBe(1);
    await waitUntil(() => seen[1].length === 1, 'the first change on worker 1');

    await server.stop();
    // Publishing fails with a clear error, promptly: no offline queue that would hang until Redis returns.
    let refusal: unknown;
    const deadline = Date.now() + 5000;
    while (!refusal && Date.now() < deadline) {
      const startedAt = Date.now();
      try {
        await transports[0].publish(new ModelChange('shop.product', 'updated', 'while-down'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      } catch (error) {
        refusal = error;
        expect(Date.now() - startedAt).toBeLessThan(1000);
      }
    }
    expect(refusal).toBeInstanceOf(LiveTransportError);
    expect(refusal).toMatchObject({ code: 'unavailable' });
    expect((refusal as Error).message).toMatch(/RedisTransport.*127\.0\.0\.1/);

    await server.start();
    await untilDeliveryResumes(brokers, probes);

    // Both directions, both subscriber connections re-subscribed: every change exactly once, in order.
    const sends: Promise<number>[] = [];
    for (let i = 0; i < 25; i += 1) {
      sends.push(brokers[0].publish(new ModelChange('shop.product', 'updated', `a${i}`)));
      sends.push(brokers[1].publish(new ModelChange('shop.product', 'updated', `b${i}`)));
    }
    expect(await Promise.all(sends)).toEqual(Array(50).fill(1));
    const ab = (list: ModelChange[]) => list.map((c) => String(c.pk)).filter((pk) => /^[ab]\d+$/.test(pk));
    await waitUntil(() => seen.every((list) => ab(list).length >= 50), 'all 50 changes on both workers');
    await new Promise((resolve) => setTimeout(resolve, 150));
    for (const list of seen) {
      expect(ab(list).filter((pk) => pk.startsWith('a'))).toEqual(Array.from({ length: 25 }, (_, i) => `a${i}`));
      expect(ab(list).filter((pk) => pk.startsWith('b'))).toEqual(Array.from({ length: 25 }, (_, i) => `b${i}`));
      expect(list.filter((c) => c.pk === 'before')).toHaveLength(1);
    }
  }, 60_000);

  it.each([
    ['its own connections', false],
    ['shared connections', true],
  ])('resumes after a quick restart (stop + start at once) too: %s', async (_, shared) => {
    const { brokers, seen, probes } = await twoWorkers(server.url, shared ? 'quick_restart_redis_shared' : 'quick_restart_redis', shared);
    cleanup.push(...brokers.map((broker) => () => broker.close()));
    await server.restart();
    await untilDeliveryResumes(brokers, probes);
    expect(await brokers[1].publish(new ModelChange('shop.product', 'deleted', 7))).toBe(1);
    await waitUntil(() => seen[0].length === 1, 'the change on worker 0');
  }, 60_000);

  it.each([
    ['its own connections', false],
    ['shared connections', true],
  ])('tells transportStatus$ "down" when Redis goes away and "up" once delivery works again: %s', async (_, shared) => {
    const { transports, brokers, seen } = await twoWorkers(server.url, shared ? 'status_redis_shared' : 'status_redis', shared);
    cleanup.push(...brokers.map((broker) => () => broker.close()));
    const statuses: string[][] = [[], []];
    brokers.forEach((broker, i) => broker.transportStatus$.subscribe((status) => statuses[i].push(status)));

    await server.stop();
    await waitUntil(() => statuses.every((list) => list.includes('down')), 'both workers to hear that the transport is down');
    expect(transports.map((transport) => transport.isConnected())).toEqual([false, false]);

    await server.start();
    await waitUntil(() => statuses.every((list) => list.at(-1) === 'up'), 'both workers to hear that the transport is back');
    // Once per outage, and "up" only when both connections are back: a change published now reaches the other worker.
    expect(statuses).toEqual([['down', 'up'], ['down', 'up']]);
    expect(transports.map((transport) => transport.isConnected())).toEqual([true, true]);
    expect(await brokers[0].publish(new ModelChange('shop.product', 'updated', 'after-up'))).toBe(1);
    await waitUntil(() => seen[1].some((change) => change.pk === 'after-up'), 'the change on worker 1 after up');
  }, 60_000);

  it('on one shared subscriber, closing one transport leaves the others on the same channel receiving, and the connections open', async () => {
    const connections = await sharedConnections(server.url);
    const [a, b] = [0, 1].map(() => new RedisTransport({ connections, channel: 'shared_subscriber' }));
    const other = new RedisTransport({ url: server.url, channel: 'shared_subscriber' });
    cleanup.push(() => a.close(), () => b.close(), () => other.close());
    const seen: ModelChange[][] = [[], []];
    await a.start((change) => seen[0].push(change));
    await b.start((change) => seen[1].push(change));
    await other.start(() => undefined);
    await other.publish(new ModelChange('shop.product', 'updated', 1));
    await waitUntil(() => seen[0].length === 1 && seen[1].length === 1, 'the first change on both transports');

    await a.close();
    await other.publish(new ModelChange('shop.product', 'updated', 2));
    await waitUntil(() => seen[1].length === 2, 'the second change on the transport still open');
    expect(seen[0]).toHaveLength(1);
    // The closed transport did not close what it shares: b still publishes on them.
    expect(connections.commands.isReady && connections.subscriber.isReady).toBe(true);
    await b.publish(new ModelChange('shop.product', 'updated', 3));
    await waitUntil(() => seen[1].some((change) => change.pk === 3), 'b\'s own change');
  });

  it('on fresh shared connections, start resolves once both are ready: a change published right after start is sent', async () => {
    // The subscriber often connects before the command connection. Before: start resolved on the subscription alone,
    // the transport started "down" (a warning that Redis was not reachable) and the first publish failed `unavailable`
    // (7 of 40 starts here).
    for (let i = 0; i < 40; i++) {
      const transport = new RedisTransport({ connections: await sharedConnections(server.url), channel: `fresh-${i}-${Date.now()}` });
      cleanup.push(() => transport.close());
      await transport.start(() => undefined);
      expect(transport.isConnected()).toBe(true);
      await transport.publish(new ModelChange('shop.product', 'updated', i));
    }
  }, 60_000);

  it('a frozen Redis (SIGSTOP): a publish that got no answer reports the transport down, later publishes fail at once, and up comes once Redis answers', async () => {
    for (const shared of [false, true]) {
      const channel = `freeze-${shared}-${Date.now()}`;
      const transport = shared ? new RedisTransport({ connections: await sharedConnections(server.url), channel, publishTimeoutMs: 300 }) : new RedisTransport({ url: server.url, channel, publishTimeoutMs: 300 });
      const broker = new LiveBroadcaster(transport, { echoTimeoutMs: 300 });
      cleanup.push(() => broker.close());
      await broker.start();
      const statuses: string[] = [];
      broker.transportStatus$.subscribe((status) => statuses.push(status));
      server.pause();
      let refused: LiveTransportError;
      try {
        await expect(transport.publish(new ModelChange('shop.product', 'updated', 1))).rejects.toMatchObject({ code: 'timeout' });
        // Before: the connection stayed "connected" (no down, no up after the thaw, so nothing told the app to reload
        // what it built from changes, some of which were lost), and every publish waited publishTimeoutMs in turn,
        // each one queued in the worker's memory until the thaw.
        expect(statuses).toEqual(['down']);
        expect(transport.isConnected()).toBe(false);
        refused = await transport.publish(new ModelChange('shop.product', 'updated', 2)).then(() => { throw new Error('published'); }, (error: LiveTransportError) => error);
      } finally {
        server.resume();
      }
      expect(refused).toMatchObject({ code: 'unavailable' });
      expect(refused.message).toMatch(/not answering/);
      await waitUntil(() => statuses.length === 2, 'up after the thaw');
      expect(statuses).toEqual(['down', 'up']);
      await transport.publish(new ModelChange('shop.product', 'updated', 3));
    }
  }, 60_000);

  it('drops (counts and logs) an inbound message over maxMessageBytes, and refuses to publish one', async () => {
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const channel = `oversized_${Date.now()}`;
    const transport = new RedisTransport({ url: server.url, channel });
    const raw = createClient({ url: server.url });
    cleanup.push(() => transport.close(), async () => void (await raw.close().catch(() => undefined)), async () => warn.mockRestore());
    const seen: ModelChange[] = [];
    await transport.start((change) => seen.push(change));
    await raw.connect();
    // Anyone who can PUBLISH on the channel: a well-formed change of 2 MB, which every worker would parse and keep.
    const huge = (seq: number) => JSON.stringify({ ...new ModelChange('shop.product', 'updated', 'huge', { blob: 'x'.repeat(2 * 1024 * 1024) }).toJSON(), origin: { publisher: 'outsider', seq } });
    await raw.publish(channel, huge(1));
    await raw.publish(channel, huge(2));
    await raw.publish(channel, JSON.stringify({ ...new ModelChange('shop.product', 'updated', 'small').toJSON(), origin: { publisher: 'outsider', seq: 3 } }));
    await waitUntil(() => seen.some((change) => change.pk === 'small'), 'the small change after the huge ones');
    // Before: both 2 MB changes were parsed and delivered to every worker's subscribers.
    expect(seen.map((change) => change.pk)).toEqual(['small']);
    expect(transport.droppedOversized).toBe(2);
    // Logged once per minute, not once per message: the line counts the drops.
    const dropped = warnings.filter((line) => /over maxMessageBytes/.test(line));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatch(new RegExp(`RedisTransport dropped a message of \\d+ bytes on "${channel}"`));

    // What this worker publishes is held to the same bound: refused at once, with a clear error, nothing sent.
    const refused = await transport.publish(new ModelChange('shop.product', 'updated', 'big', { blob: 'y'.repeat(RedisTransport.DEFAULT_MAX_MESSAGE_BYTES) })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(LiveTransportError);
    expect(refused).toMatchObject({ code: 'payload_too_large' });
    expect((refused as Error).message).toMatch(/maxMessageBytes/);
    // A larger bound lets it through.
    const roomy = new RedisTransport({ url: server.url, channel, maxMessageBytes: 4 * 1024 * 1024 });
    cleanup.push(() => roomy.close());
    await roomy.start(() => undefined);
    await roomy.publish(new ModelChange('shop.product', 'updated', 'big-ok', { blob: 'y'.repeat(RedisTransport.DEFAULT_MAX_MESSAGE_BYTES) }));
    await expect(roomy.publish(new ModelChange('shop.product', 'updated', 'too-big', { blob: 'z'.repeat(5 * 1024 * 1024) }))).rejects.toMatchObject({ code: 'payload_too_large' });
    await raw.publish(channel, JSON.stringify({ ...new ModelChange('shop.product', 'updated', 'last').toJSON(), origin: { publisher: 'outsider', seq: 4 } }));
    await waitUntil(() => seen.some((change) => change.pk === 'last'), 'the last change');
    expect(seen.map((change) => change.pk)).toEqual(['small', 'last']);
  }, 60_000);

  it('skips a change whose data is nested too deep to serialise again, as any message that is not a change: one warning, no error per message', async () => {
    const warnings: string[] = [];
    const errors: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
    const channel = `deep_${Date.now()}`;
    const broker = new LiveBroadcaster(new RedisTransport({ url: server.url, channel }));
    const raw = createClient({ url: server.url });
    cleanup.push(() => broker.close(), async () => void (await raw.close().catch(() => undefined)), async () => void (warn.mockRestore(), error.mockRestore()));
    await broker.start();
    const seen: ModelChange[] = [];
    broker.observe('shop.product').subscribe((change) => seen.push(change));
    await raw.connect();
    // 40 kB, well under maxMessageBytes: JSON.parse takes it, but every JSON.stringify of it overflows the stack.
    const depth = 20_000;
    const deep = (seq: number) => `{"modelLabel":"shop.product","action":"updated","pk":"deep","origin":{"publisher":"outsider","seq":${seq}},"data":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    for (let seq = 1; seq <= 3; seq += 1) await raw.publish(channel, deep(seq));
    await raw.publish(channel, JSON.stringify({ ...new ModelChange('shop.product', 'updated', 'small').toJSON(), origin: { publisher: 'outsider', seq: 4 } }));
    await waitUntil(() => seen.some((change) => change.pk === 'small'), 'the small change after the deep ones');
    expect(seen.map((change) => change.pk)).toEqual(['small']);
    // Before: each one was parsed, then threw a RangeError in the broadcaster: an error with a stack trace per
    // message, on every worker, for as many messages as the writer sends.
    expect(errors).toEqual([]);
    expect(warnings.filter((line) => /not a ModelChange/.test(line))).toHaveLength(1);
    expect(warnings.find((line) => /not a ModelChange/.test(line))).toMatch(/"data" is nested deeper than 64 levels/);
    // This worker's own publish of such data is refused at once, as the in-process transport refuses it.
    let nested: Record<string, unknown> = {};
    for (let i = 0; i < 100; i += 1) nested = { nested };
    await expect(broker.publish(new ModelChange('shop.product', 'updated', 'mine', nested))).rejects.toThrow(/nested deeper than 64/);
  }, 60_000);

  it('on shared connections to a stopped Redis, a publish right after start is refused unavailable at once', async () => {
    const stopped = await RedisTestServer.launch();
    try {
      await stopped.stop();
      // A connect timeout longer than the test may run: a start that waited it out would never end here.
      const connections = await RedisConnections.create({ url: stopped.url, connectTimeoutMs: 600_000, maxReconnectDelayMs: 200 });
      connectionsToClose.push(connections);
      const transport = new RedisTransport({ connections, channel: `stopped-${Date.now()}` });
      const broker = new LiveBroadcaster(transport, { echoTimeoutMs: 300 });
      cleanup.push(() => broker.onModuleDestroy());
      // Before: start (and so a publish, which starts the broadcaster first) waited `connectTimeoutMs` (5 s by
      // default) for connections that Redis had refused already, and only then was the publish refused.
      await expect(broker.publish(new ModelChange('shop.product', 'updated', 1))).rejects.toMatchObject({ code: 'unavailable' });
      expect(transport.isConnected()).toBe(false);
      await expect(broker.publish(new ModelChange('shop.product', 'updated', 2))).rejects.toMatchObject({ code: 'unavailable' });
    } finally {
      await Promise.allSettled(cleanup.splice(0).map((close) => close()));
      await Promise.allSettled(connectionsToClose.splice(0).map((connections) => connections.close()));
      await stopped.destroy();
    }
  }, 60_000);

  it('starts without an unreachable Redis, naming it with its password redacted, and refuses publishes with a clear error', async () => {
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const transport = new RedisTransport({ url: 'redis://:secret@127.0.0.1:1', startupAttempts: 2, maxReconnectDelayMs: 200 });
    try {
      // Before: start rejected ("could not connect to …: gave up after 2 connection attempts"), failing the bootstrap.
      await transport.start(() => undefined);
      expect(transport.isConnected()).toBe(false);
      const refusal = transport.publish(new ModelChange('shop.product', 'updated', 1));
      await expect(refusal).rejects.toMatchObject({ code: 'unavailable' });
      await expect(refusal).rejects.toThrow(/not connected to redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
      expect(warnings.filter((line) => line.startsWith('RedisTransport'))).toEqual([expect.stringMatching(/^RedisTransport: redis:\/\/:\*\*\*@127\.0\.0\.1:1 is not reachable yet; started without it/)]);
    } finally {
      warn.mockRestore();
      await transport.close();
    }
  }, 20_000);
});

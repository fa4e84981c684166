/**
 * A worker's Redis command connection whose network path goes silent (packets dropped both ways, nothing reset: a
 * partition, a NAT or firewall that forgot the flow) stays "ready" for node-redis, which hears nothing wrong: every
 * command of that worker (state locks and saves, the event cache, rate limits, token records, broadcasts) waited for
 * an answer that never came, and once `maxPendingCommands` waited, was refused at once, until the kernel gave up on
 * the TCP connection many minutes later: every event of that worker's tabs answered `unavailable`, while Redis served
 * the other workers. A Redis that stops answering every connection (paused, overloaded) looks the same from one
 * connection, and must not be mistaken for it: replacing the connection there would only throw away the commands
 * Redis will answer when it wakes.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { withinDeadline } from '../libs/reflex-bridge/src/common/deadline.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { SilencingProxy } from './support/silencing-proxy.js';
import { eventually, until } from './support/eventually.js';

describeWithRedis('a Redis command connection that goes silent', () => {
  let redis: RedisTestServer;
  let proxy: SilencingProxy | undefined;
  let connections: RedisConnections | undefined;
  const warnings: string[] = [];
  const logger = { log: () => undefined, warn: (message: string) => void warnings.push(message), error: () => undefined };

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  afterEach(async () => {
    redis.resume();
    await connections?.close();
    connections = undefined;
    await proxy?.destroy();
    proxy = undefined;
    warnings.length = 0;
  });

  /** One GET with a short deadline: true when Redis answered it. */
  const answers = async () => {
    try {
      await withinDeadline(connections!.commands.get('probe-key'), 500);
      return true;
    } catch {
      return false;
    }
  };

  it('is noticed and replaced: commands are answered again without anyone cutting the old connection', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    connections = await RedisConnections.create({ url: `redis://127.0.0.1:${proxy.port}`, commandsCheckIntervalMs: 500, logger });
    await connections.ready();
    expect(await answers()).toBe(true);
    expect(proxy.connections).toBe(1);

    proxy.silence(0);
    // (Before: no command was ever answered again, and the connection stayed "ready" until the kernel gave up.)
    const back = await eventually('a command answered after the silence', answers, (answered) => answered, 30_000);
    expect(back).toBe(true);
    expect(warnings.some((line) => /rx:commands .* went silent/.test(line))).toBe(true);
  }, 60_000);

  it('is kept while Redis itself is paused: the commands sent meanwhile are answered when it resumes', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    connections = await RedisConnections.create({ url: `redis://127.0.0.1:${proxy.port}`, commandsCheckIntervalMs: 500, logger });
    await connections.ready();
    expect(await answers()).toBe(true);

    redis.pause();
    const sent = connections.commands.set('during-pause', 'kept');
    // Each check that found the connection unanswered asked Redis on a fresh connection (through the proxy too),
    // which a paused Redis does not answer either.
    await until(() => proxy!.connections >= 3, 'two checks of the unanswered connection');
    const written = proxy.writesFromClient(0);
    redis.resume();
    expect(await sent).toBe('OK');
    // Redis woke while that check asked on its fresh connection: it answers it and the old connection at once. The
    // check's answer must not get the old connection replaced (it would fail the commands Redis is answering now):
    // the watch's next PING goes out on the same connection.
    await until(() => proxy!.writesFromClient(0) > written, 'the next check on the same connection');
    expect(warnings.filter((line) => /went silent/.test(line))).toEqual([]);
  }, 60_000);
});

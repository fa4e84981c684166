/**
 * A worker's Redis subscriber connection whose network path goes silent (packets dropped both ways, nothing reset: a
 * partition, a NAT or firewall that forgot the idle flow) stays "open" and "ready" for node-redis, which hears
 * nothing wrong; the worker heard no broadcast, live update or session end until the kernel gave up on the TCP
 * connection, many minutes later. The worker must notice on its own, open a new subscriber connection (re-subscribed)
 * and call its `onSubscriberBack` listeners, without anyone cutting the old connection.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { SilencingProxy } from './support/silencing-proxy.js';
import { eventually } from './support/eventually.js';

describeWithRedis('a Redis subscriber connection that goes silent', () => {
  let redis: RedisTestServer;
  let proxy: SilencingProxy | undefined;
  let connections: RedisConnections | undefined;

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  afterEach(async () => {
    await connections?.close();
    connections = undefined;
    await proxy?.destroy();
    proxy = undefined;
  });

  it('is noticed and replaced by a new, re-subscribed connection: messages arrive again and onSubscriberBack fires', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (message: string) => void warnings.push(message), error: () => undefined };
    connections = await RedisConnections.create({ url: `redis://127.0.0.1:${proxy.port}`, subscriberCheckIntervalMs: 500, logger });
    let back = 0;
    connections.onSubscriberBack(() => void back++);
    const heard: string[] = [];
    await connections.ready();
    // The command connection was accepted first; the subscriber opens on first use.
    await connections.subscriber.subscribe('test:news', (message) => void heard.push(message));
    await connections.ready();
    expect(proxy.connections).toBe(2);

    const publisher = createClient({ url: redis.url });
    await publisher.connect();
    try {
      await publisher.publish('test:news', 'before');
      await eventually('the message before the silence', () => heard.length, (count) => count === 1);

      proxy.silence(1);
      // Redis sends each message to the silent connection: it never arrives, until a new connection subscribed.
      const after = await eventually(
        'a message published after the silence, heard on the subscriber',
        async () => (await publisher.publish('test:news', 'after'), heard.includes('after')),
        (arrived) => arrived,
        30_000,
      );
      expect(after).toBe(true);
      expect(proxy.connections).toBeGreaterThan(2);
      await eventually('onSubscriberBack', () => back, (count) => count >= 1);
      expect(warnings.some((line) => /rx:subscriber .* went silent/.test(line))).toBe(true);
    } finally {
      await publisher.close();
    }
  }, 60_000);
});

/**
 * While Redis does not answer (paused, a frozen VM), every broadcast a worker sends through the Socket.IO Redis adapter
 * (a `ReflexStateService.modify` or live update aimed at a socket on another worker, any server-side emit) waits in
 * the command connection's queue with its whole message. That queue was bounded by count only (`maxPendingCommands`,
 * 10,000): 10,000 broadcasts of a 1 MB delta held 10 GB. It must be bounded in bytes too.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { withinDeadline } from '../libs/reflex-bridge/src/common/deadline.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

describeWithRedis('broadcasts published while Redis does not answer', () => {
  let redis: RedisTestServer;
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
    warnings.length = 0;
  });

  it('are held up to maxPendingPublishBytes; past it they are dropped at once instead of queued', async () => {
    connections = await RedisConnections.create({ url: redis.url, maxPendingPublishBytes: 4_000_000, logger });
    await connections.ready();
    const { pub } = connections.adapterClients();
    const message = Buffer.alloc(1_000_000, 1);
    redis.pause();
    const held = [1, 2, 3, 4].map(() => pub.publish('rx:io#/#', message) as Promise<number>);
    const past = [5, 6, 7, 8, 9, 10].map(() => pub.publish('rx:io#/#', message) as Promise<number>);
    // (Before: all ten waited in the queue with their 10 MB until Redis answered; none of these settled.)
    expect(await withinDeadline(Promise.all(past), 10_000)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(warnings.filter((line) => /broadcast was not published .*maxPendingPublishBytes/.test(line))).toHaveLength(1);
    redis.resume();
    expect(await Promise.all(held)).toEqual([0, 0, 0, 0]);
    // Room again once Redis answered: the next one is sent.
    expect(await pub.publish('rx:io#/#', message)).toBe(0);
    expect(warnings).toHaveLength(1);
  }, 60_000);
});

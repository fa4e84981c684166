import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createClient } from 'redis';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { RedisThrottlerStorage } from '../libs/reflex-bridge/src/security/redis-throttler.storage.js';
import { EventCacheService } from '../libs/reflex-bridge/src/cache/event-cache.service.js';
import { loadRedisKeyv } from '../libs/reflex-bridge/src/common/keyv-redis.loader.js';
import { resolveOptions } from '../libs/reflex-bridge/src/reflex-bridge.options.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

/** What `promise` gives within `ms` (a rejection as `{ rejected }`), or 'still waiting'; the timer never keeps Jest alive. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | { rejected: unknown } | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([promise.catch((rejected: unknown) => ({ rejected })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `predicate` holds (polled), or fails after a generous deadline. */
async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A Redis that keeps its connections but stops answering (SIGSTOP), with the shared command connection's queue full
 * (`maxPendingCommands`): what the Redis parts other than the state store answer their callers.
 */
describeWithRedis('Redis parts with a frozen Redis and a full command queue', () => {
  let server: RedisTestServer;
  let raw: ReturnType<typeof createClient>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const toClose: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    raw = createClient({ url: server.url });
    raw.on('error', () => undefined);
    await raw.connect();
    process.on('unhandledRejection', onUnhandled);
  }, 30_000);

  afterEach(async () => {
    server.resume();
    for (const closable of toClose.splice(0).reverse()) await closable.close().catch(() => undefined);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    if (raw?.isOpen) raw.destroy();
    await server?.destroy();
  });

  it('the rate-limit storage refuses a count at once with a clear error, and the event cache answers a miss', async () => {
    const connections = await RedisConnections.create({ url: server.url, maxPendingCommands: 10 });
    toClose.push(connections);
    await connections.ready();
    // Long time limits: only the full queue can answer quickly.
    const throttler = new RedisThrottlerStorage({ connections, commandTimeoutMs: 60_000 });
    toClose.push(throttler);
    await throttler.hit('warm-up', 10_000, 5, 0);
    const cache = new EventCacheService(resolveOptions({ redisUrl: server.url, eventCache: { operationTimeoutMs: 60_000 } }), undefined, undefined, undefined, connections, await loadRedisKeyv());
    toClose.push({ close: () => cache.onModuleDestroy() });
    await cache.set('sid-1', { userId: 1, isAuthenticated: true });
    cache.forgetLocally('sid-1');

    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    server.pause();
    const stuck = Array.from({ length: 10 }, () => connections.commands.ping().catch(() => 'failed'));
    const counted = await within(throttler.hit('k', 10_000, 5, 0), 10_000);
    expect(counted).toMatchObject({ rejected: expect.any(Error) });
    const message = ((counted as { rejected: Error }).rejected).message;
    expect(message).toContain(server.url);
    expect(message).toMatch(/not answering/);
    const read = await within(cache.get('sid-1'), 10_000);
    expect(read).toBeUndefined();
    const written = await within(cache.set('sid-2', { userId: 2, isAuthenticated: true }), 10_000);
    expect(written).toBeUndefined();
    warn.mockRestore();
    // The operator's log says why, in words that point at Redis.
    expect(warnings.join('\n')).toMatch(/event cache is unavailable.*Redis is not answering/);
    server.resume();
    await Promise.all(stuck);

    // Back without a restart: counts and the cache work again.
    await expect(throttler.hit('k', 10_000, 5, 0)).resolves.toBe(0);
    cache.forgetLocally('sid-1');
    expect(await cache.get('sid-1')).toEqual({ userId: 1, isAuthenticated: true, readAtMs: expect.any(Number) });
    expect(unhandled).toEqual([]);
  }, 60_000);

  it('the event cache on a connection of its own (eventCache.redisUrl) keeps at most maxPendingCommands commands for a frozen Redis', async () => {
    const cache = new EventCacheService(resolveOptions({ eventCache: { redisUrl: server.url, operationTimeoutMs: 20 } }), undefined, undefined, undefined, undefined, await loadRedisKeyv());
    toClose.push({ close: () => cache.onModuleDestroy() });
    await cache.set('sid-warm', { userId: 1, isAuthenticated: true });
    await raw.configResetStat();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    server.pause();
    try {
      // Events of 10,500 sessions while Redis is frozen: each is a miss after its time limit (the middleware runs).
      const reads = await Promise.all(Array.from({ length: 10_500 }, (_, i) => cache.get(`sid-${i}`)));
      expect(reads.every((read) => read === undefined)).toBe(true);
    } finally {
      server.resume();
      warn.mockRestore();
    }
    // What Redis is left to run once it answers: not every read of the freeze (the default bound is 10,000).
    await until(async () => (await cache.get('sid-warm')) !== undefined, 'the cache to answer again');
    const stats = await raw.info('commandstats');
    const gets = Number(/cmdstat_get:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    expect(gets).toBeLessThanOrEqual(10_000 + 10);
  }, 60_000);
  it("commands that wait to be written to a Redis that stopped reading are sent once it reads again, however long that takes", async () => {
    // node-redis 6 on its defaults rejects a command still waiting to be written after 5 s; node-redis 5 waited.
    // The silence check would ask a new connection after 5 s; here only the commands' own wait is under test.
    const connections = await RedisConnections.create({ url: server.url, commandsCheckIntervalMs: 120_000 });
    toClose.push(connections);
    await connections.ready();
    server.pause();
    const sent: Promise<unknown>[] = [];
    try {
      // 64 MB: more than the kernel's buffers on both ends of the connection hold, so the last ones wait in node-redis.
      const value = 'x'.repeat(1 << 20);
      for (let n = 0; n < 64; n++) sent.push(connections.commands.sendCommand(['SET', `big:${n % 4}`, value]));
      sent.push(connections.commands.sendCommand(['INCR', 'held']));
      expect(await within(Promise.race(sent), 6_000)).toBe('still waiting');
    } finally {
      server.resume();
    }
    await expect(sent.at(-1)).resolves.toBe(1);
    await expect(Promise.all(sent.slice(0, -1))).resolves.toEqual(Array(64).fill('OK'));
    expect(unhandled).toEqual([]);
  }, 60_000);

  it('the rate-limit storage waits for one unanswered count, then refuses the next at once until Redis answers it', async () => {
    const connections = await RedisConnections.create({ url: server.url });
    toClose.push(connections);
    await connections.ready();
    const throttler = new RedisThrottlerStorage({ connections, commandTimeoutMs: 100 });
    toClose.push(throttler);
    await throttler.hit('warm-up', 10_000, 1_000, 0);
    const counts = async () => {
      const stats = await raw.info('commandstats');
      return ['evalsha', 'eval'].reduce((sum, name) => sum + Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
    };
    const before = await counts();
    server.pause();
    const refusals: string[] = [];
    try {
      // Rate-limited events through a freeze: each count fails (the pipeline lets the event through).
      for (let event = 0; event < 10; event++) {
        const counted = await within(throttler.hit('k', 10_000, 1_000, 0), 10_000);
        expect(counted).toMatchObject({ rejected: expect.any(Error) });
        refusals.push(((counted as { rejected: Error }).rejected).message);
      }
    } finally {
      server.resume();
    }
    expect(refusals[0]).toMatch(/no answer within 100 ms/);
    expect(refusals.at(-1)).toContain(server.url);
    expect(refusals.at(-1)).toMatch(/not answering/);
    // Back without a restart, once Redis answered the count it was holding.
    let countsAfter = 0;
    await until(async () => {
      countsAfter++;
      return (await throttler.hit('k', 10_000, 1_000, 0).catch(() => -1)) === 0;
    }, 'a count to succeed again');
    // Before: each of the 10 counts was sent and waited its 100 ms; Redis replayed all 10 on the thaw.
    expect((await counts()) - before).toBeLessThanOrEqual(countsAfter + 1);
    expect(unhandled).toEqual([]);
  }, 60_000);
  it('the event cache waits for one unanswered read, then answers misses at once until Redis answers it', async () => {
    const cache = new EventCacheService(resolveOptions({ eventCache: { redisUrl: server.url, operationTimeoutMs: 100 } }), undefined, undefined, undefined, undefined, await loadRedisKeyv());
    toClose.push({ close: () => cache.onModuleDestroy() });
    await cache.set('sid-warm', { userId: 1, isAuthenticated: true });
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const before = await gets();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    server.pause();
    try {
      // Events of 10 sessions with fast auth through a freeze: each is a miss (the middleware runs).
      for (let event = 0; event < 10; event++) expect(await within(cache.get(`sid-${event}`), 10_000)).toBeUndefined();
    } finally {
      server.resume();
      warn.mockRestore();
    }
    // Back without a restart, once Redis answered the read it was holding.
    let readsAfter = 0;
    await until(async () => {
      readsAfter++;
      cache.forgetLocally('sid-warm');
      return (await cache.get('sid-warm')) !== undefined;
    }, 'the cache to answer again');
    // Before: each of the 10 reads was sent and waited its 100 ms; Redis replayed all 10 on the thaw.
    expect((await gets()) - before).toBeLessThanOrEqual(readsAfter + 1);
  }, 60_000);
});

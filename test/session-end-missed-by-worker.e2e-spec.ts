/**
 * A worker cut off from Redis pub/sub while a session ends on another worker never hears of that end: the news is
 * fire-and-forget. Once its subscriber connection is back it cannot know what it missed, so it must not go on
 * trusting what it keeps locally about sessions (the fast-auth snapshots of `eventCache.localTtlMs`).
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { SilencingProxy } from './support/silencing-proxy.js';
import { eventually, until } from './support/eventually.js';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers } from './fixtures/cached-auth-app.js';

const PROFILE_STATE = 'reflex___state____state.profile_state';

describeWithRedis('a worker cut off from Redis pub/sub while a session ends elsewhere', () => {
  let redis: RedisTestServer;
  let proxy: SilencingProxy | undefined;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  beforeEach(() => resetCachedUsers());
  afterEach(async () => {
    await closeAll();
    await proxy?.destroy();
    proxy = undefined;
  });

  it('drops its local fast-auth snapshots once its subscriber is back: the ended session is not served as its user', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    // A long local layer, so that what the worker kept shows; sessions in Redis, read directly by both workers.
    const eventCache = { ttlSeconds: 60, localTtlMs: 60_000 };
    const a = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, eventCache } });
    const b = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: `redis://127.0.0.1:${proxy.port}`, eventCache } });
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const tab = await connect(b, cookie);
    // The first event writes the shared snapshot, the next ones read it into B's local layer.
    for (let i = 0; i < 3; i++) expect(await whoami(tab, '/before')).toBe('dave');

    // Every connection of B to Redis goes silent (a partition); dave logs out on A, which tells the workers over
    // Redis pub/sub. A listener of our own shows when Redis has sent that message (to B's silent connection too).
    const watcher = createClient({ url: redis.url });
    await watcher.connect();
    let published = 0;
    await watcher.pSubscribe('rx:io*', () => void published++);
    try {
      const connections = proxy.connections;
      for (let i = 0; i < connections; i++) proxy.silence(i);
      expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
      await until(() => published > 0 || undefined, 'the logout news on Redis pub/sub');
      // The partition ends with a reset: B reconnects, its subscriber too.
      for (let i = 0; i < connections; i++) proxy.cut(i);
    } finally {
      await watcher.quit();
    }
    await eventually(
      "B's subscriber back",
      () => b.logger.lines.filter((line) => /rx:subscriber .*is back/.test(line.message)).length,
      (count) => count > 0,
      30_000,
    );
    // Before: B answered with its local snapshot of dave until localTtlMs ran out (here 60 s; 1 s by default),
    // though the session no longer exists. Now B read the truth: the shared snapshot is gone, the session too.
    expect(await whoami(tab, '/after')).toBe('anonymous');
  }, 60_000);

  it("replays the ends it missed once its subscriber is back: that session's sockets show the logout without an event", async () => {
    proxy = await SilencingProxy.launch(redis.port);
    const a = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url } });
    const b = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: `redis://127.0.0.1:${proxy.port}` } });
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const tab = await connect(b, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');
    expect(tab.latest(PROFILE_STATE, 'isAuthenticated')).toBe(true);

    const watcher = createClient({ url: redis.url });
    await watcher.connect();
    let published = 0;
    await watcher.pSubscribe('rx:io*', () => void published++);
    try {
      const connections = proxy.connections;
      for (let i = 0; i < connections; i++) proxy.silence(i);
      expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
      await until(() => published > 0 || undefined, 'the logout news on Redis pub/sub');
      for (let i = 0; i < connections; i++) proxy.cut(i);
    } finally {
      await watcher.quit();
    }
    // Before: B never heard of the end, and the tab showed dave logged in until its next event. Now B reads the
    // ends recorded in Redis meanwhile and treats each as one it heard: the tab is re-authenticated and told.
    await tab.untilVar(PROFILE_STATE, 'isAuthenticated', false, 30_000);
    expect(tab.latest(PROFILE_STATE, 'username')).toBe('');
  }, 60_000);

  it('notices on its own that its subscriber went silent (nothing reset) and then acts on the ends it missed', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    const a = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url } });
    const b = await start({ sessionRedisUrl: redis.url, bridge: { redisUrl: `redis://127.0.0.1:${proxy.port}` } });
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const tab = await connect(b, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');

    // Only B's subscriber goes silent, for good: its commands still work, and nobody resets anything.
    const observer = createClient({ url: redis.url });
    await observer.connect();
    try {
      const clients = await observer.clientList();
      const silent = clients
        .filter((client) => client.name === 'rx:subscriber')
        .map((client) => proxy!.indexOfUpstreamPort(Number(client.addr.split(':').pop())))
        .filter((index) => index >= 0);
      expect(silent).toHaveLength(1);
      proxy.silence(silent[0]!);
    } finally {
      await observer.quit();
    }
    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    // Before: B's subscriber stayed "ready" and heard nothing until the kernel gave up on it (minutes); the tab
    // showed dave. Now B replaces it within twice subscriberCheckIntervalMs (5 s) and replays the end.
    await eventually(
      "B's subscriber replaced",
      () => b.logger.lines.filter((line) => /rx:subscriber .*went silent/.test(line.message)).length,
      (count) => count > 0,
      30_000,
    );
    await tab.untilVar(PROFILE_STATE, 'isAuthenticated', false, 30_000);
  }, 60_000);
});

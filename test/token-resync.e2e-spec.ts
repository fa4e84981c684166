/**
 * A change made on one worker for a tab connected to another (`ReflexStateService.modify`, a live update) is committed
 * to the state store, then reaches the tab's worker as a Socket.IO adapter broadcast over Redis pub/sub, which delivers
 * at most once. When that broadcast was lost (the publishing worker dropped it, or the tab's worker did not hear it),
 * the tab went on showing the old value until the value changed again, although the store held the new one. Two real
 * apps on a real Redis; one worker's connection goes silent behind a proxy (nothing reset, as in a partition).
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { Logger } from '@nestjs/common';
import { ReflexBridgeModule, ReflexStateService, RedisStateStore } from '@reflex-bridge/nest';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { TokenResync } from '../libs/reflex-bridge/src/gateway/token-resync.js';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { SilencingProxy } from './support/silencing-proxy.js';
import { eventually, until } from './support/eventually.js';

const COUNTER = 'reflex___state____state.counter_state';

describeWithRedis('a tab that missed a change made on another worker', () => {
  let redis: RedisTestServer;
  let proxy: SilencingProxy | undefined;
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  const stores: RedisStateStore[] = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
    for (const store of stores.splice(0)) await store.close();
    await proxy?.destroy();
    proxy = undefined;
    logger = new CapturingLogger();
  });

  /** Nest's logger is one per process, the last app's: both apps of a test share this one. */
  let logger = new CapturingLogger();
  const logged = (pattern: RegExp) => logger.lines.filter((line) => pattern.test(line.message)).length;
  const start = async (options: Parameters<typeof ReflexBridgeModule.forRoot>[0]) => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [Clock, CounterState] }, undefined, logger);
    apps.push(running);
    return running;
  };

  /** Silences, behind `proxy`, the one connection named `name` that goes through it. */
  const silenceThroughProxy = async (name: string) => {
    const observer = createClient({ url: redis.url });
    await observer.connect();
    try {
      const indexes = (await observer.clientList())
        .filter((client) => client.name === name)
        .map((client) => proxy!.indexOfUpstreamPort(Number(client.addr.split(':').pop())))
        .filter((index) => index >= 0);
      expect(indexes).toHaveLength(1);
      proxy!.silence(indexes[0]!);
    } finally {
      await observer.quit();
    }
  };

  /** Resolves once Redis has sent a broadcast of the adapter to its subscribers (a silent one included). */
  const watchBroadcasts = async () => {
    const watcher = createClient({ url: redis.url });
    await watcher.connect();
    let heard = 0;
    await watcher.pSubscribe('rx:io#/_event#rx:token:*', () => void heard++);
    return { heard: () => heard, close: () => watcher.quit() };
  };

  it("is sent its state once the subscriber of the tab's worker is back (it cannot know what it missed)", async () => {
    proxy = await SilencingProxy.launch(redis.port);
    const a = await start({ redisUrl: `redis://127.0.0.1:${proxy.port}` });
    const b = await start({ redisUrl: redis.url });
    const tab = new RawSocket(a.url);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 1));
    await tab.untilVar(COUNTER, 'count', 1);

    // Only A's subscriber goes silent: Redis sends B's next broadcast to a connection nothing comes out of.
    await silenceThroughProxy('rx:subscriber');
    const broadcasts = await watchBroadcasts();
    try {
      await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 2));
      await until(() => broadcasts.heard() > 0 || undefined, 'the broadcast of the change on Redis');
    } finally {
      await broadcasts.close();
    }
    expect(await b.app.get(ReflexStateService).read(tab.token, CounterState)).toMatchObject({ count: 2 });
    await eventually(
      "A's subscriber replaced",
      () => logged(/rx:subscriber .*went silent/),
      (count) => count > 0,
      30_000,
    );
    // Before: the tab showed 1 for good (until the count changed again), though the store held 2. Now A sends each of
    // its tabs its state once its subscriber is back.
    await tab.untilVar(COUNTER, 'count', 2, 30_000);
    expect(tab.latest(COUNTER, 'doubled')).toBe(4);
  }, 90_000);

  it('is sent its state once the worker that dropped the broadcast publishes again', async () => {
    proxy = await SilencingProxy.launch(redis.port);
    const a = await start({ redisUrl: redis.url });
    // B's state store on a connection of its own, not behind the proxy: its change is committed while its
    // broadcasts (on the shared command connection, behind the proxy) are not published.
    const store = new RedisStateStore({ url: redis.url });
    stores.push(store);
    const b = await start({ redisUrl: `redis://127.0.0.1:${proxy.port}`, stateStore: store });
    const tab = new RawSocket(a.url);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 1));
    await tab.untilVar(COUNTER, 'count', 1);

    // B's command connection goes silent: its broadcast waits there until B replaces the connection, which drops it.
    await silenceThroughProxy('rx:commands');
    await b.app.get(ReflexStateService).modify(tab.token, CounterState, (counter) => void (counter.count = 2));
    expect(await b.app.get(ReflexStateService).read(tab.token, CounterState)).toMatchObject({ count: 2 });
    await eventually(
      'the broadcast dropped by B',
      () => logged(/broadcast was not published/),
      (count) => count > 0,
      30_000,
    );
    // Before: the tab showed 1 for good, though the store held 2 (A's subscriber never missed anything: B did not
    // publish). Now B remembers the token and, once it publishes again, tells the workers to resync it.
    await tab.untilVar(COUNTER, 'count', 2, 30_000);
  }, 90_000);

  it('after a freeze, the tokens whose broadcast went past maxPendingPublishBytes are resynced once Redis answers', async () => {
    const publishing = await RedisConnections.create({ url: redis.url, maxPendingPublishBytes: 1_000, logger: new CapturingLogger() });
    const holding = await RedisConnections.create({ url: redis.url, logger: new CapturingLogger() });
    try {
      const resynced: string[] = [];
      const held = new Set(['token-held-1', 'token-dropped-1']);
      // The worker that publishes holds no tab; the other holds both tabs and records which it resyncs.
      new TokenResync(publishing, { tokens: () => [], holds: () => false, resync: async () => undefined }, new Logger('TokenResyncSpec'));
      new TokenResync(holding, { tokens: () => held, holds: (token) => held.has(token), resync: async (token) => void resynced.push(token) }, new Logger('TokenResyncSpec'));
      await publishing.ready();
      await holding.ready();
      await until(async () => ((await publishing.commands.sendCommand(['PUBSUB', 'NUMSUB', 'rx:resync'])) as unknown[])[1] === 2 || undefined, 'both workers to subscribe');
      const { pub } = publishing.adapterClients();
      redis.pause();
      const waiting = pub.publish('rx:io#/_event#rx:token:token-held-1#', Buffer.alloc(800));
      // Past the bound: dropped at once, while Redis is frozen.
      expect(await pub.publish('rx:io#/_event#rx:token:token-dropped-1#', Buffer.alloc(800))).toBe(0);
      redis.resume();
      await waiting;
      // Before: nothing told anyone of the dropped broadcast; its tab stayed stale. Now the publishing worker names its
      // token once a broadcast went out again, and only that one (the other broadcast was delivered).
      await eventually('the dropped token resynced', () => resynced, (tokens) => tokens.includes('token-dropped-1'));
      expect(resynced).toEqual(['token-dropped-1']);
    } finally {
      redis.resume();
      await publishing.close();
      await holding.close();
    }
  }, 60_000);

  it('remembers at most 10,000 dropped tokens: past that, one message has every worker resync all its tabs', async () => {
    const publishing = await RedisConnections.create({ url: redis.url, maxPendingPublishBytes: 1_000, logger: new CapturingLogger() });
    const holding = await RedisConnections.create({ url: redis.url, logger: new CapturingLogger() });
    const watcher = createClient({ url: redis.url });
    try {
      const resynced: string[] = [];
      const held = new Set(['token-never-named', 'token-00000042']);
      new TokenResync(publishing, { tokens: () => [], holds: () => false, resync: async () => undefined }, new Logger('TokenResyncSpec'));
      new TokenResync(holding, { tokens: () => held, holds: (token) => held.has(token), resync: async (token) => void resynced.push(token) }, new Logger('TokenResyncSpec'));
      await watcher.connect();
      const messages: string[] = [];
      await watcher.subscribe('rx:resync', (message) => void messages.push(message));
      await publishing.ready();
      await holding.ready();
      await until(async () => ((await publishing.commands.sendCommand(['PUBSUB', 'NUMSUB', 'rx:resync'])) as unknown[])[1] === 3 || undefined, 'every listener to subscribe');
      const { pub } = publishing.adapterClients();
      redis.pause();
      const waiting = pub.publish('rx:io#/_event#rx:token:token-first-one#', Buffer.alloc(800));
      for (let i = 0; i < 10_001; i++) expect(await pub.publish(`rx:io#/_event#rx:token:token-${String(i).padStart(8, '0')}#`, Buffer.alloc(800))).toBe(0);
      redis.resume();
      await waiting;
      await eventually('every held tab resynced', () => [...resynced].sort(), (tokens) => tokens.length === 2);
      expect([...resynced].sort()).toEqual(['token-00000042', 'token-never-named']);
      await until(() => messages.length > 0 || undefined, 'the resync message');
      expect(messages).toEqual(['["*"]']);
    } finally {
      redis.resume();
      await watcher.quit().catch(() => undefined);
      await publishing.close();
      await holding.close();
    }
  }, 60_000);

  it('ignores resync messages it cannot read, and tokens it does not hold', async () => {
    const holding = await RedisConnections.create({ url: redis.url, logger: new CapturingLogger() });
    const publisher = createClient({ url: redis.url });
    try {
      const resynced: string[] = [];
      const held = new Set(['token-held-here']);
      new TokenResync(holding, { tokens: () => held, holds: (token) => held.has(token), resync: async (token) => void resynced.push(token) }, new Logger('TokenResyncSpec'));
      await holding.ready();
      await publisher.connect();
      await until(async () => ((await publisher.sendCommand(['PUBSUB', 'NUMSUB', 'rx:resync'])) as unknown[])[1] === 1 || undefined, 'the worker to subscribe');
      for (const message of ['', '{', 'null', '{"tokens":["token-held-here"]}', '"token-held-here"', '[1,{},null]', '["../../x","token-held-elsewhere"]', 'x'.repeat(100_000)]) {
        await publisher.publish('rx:resync', message);
      }
      await publisher.publish('rx:resync', '["token-held-elsewhere","token-held-here"]');
      // Messages arrive in order: once the last one was acted on, the others were read and ignored.
      await eventually('the held token resynced', () => resynced, (tokens) => tokens.length > 0);
      expect(resynced).toEqual(['token-held-here']);
    } finally {
      await publisher.quit().catch(() => undefined);
      await holding.close();
    }
  }, 60_000);
  it('subscribes to resync messages once Redis lets it, after refusing it at start (an ACL without the channel)', async () => {
    const admin = createClient({ url: redis.url });
    await admin.connect();
    // A user allowed every key and command but no pub/sub channel (Redis 7's default for new users).
    await admin.sendCommand(['ACL', 'SETUSER', 'no-resync', 'on', 'nopass', '~*', '+@all', 'resetchannels']);
    const logger = new CapturingLogger();
    const holding = await RedisConnections.create({ url: redis.url.replace('redis://', 'redis://no-resync:any@'), logger });
    try {
      const resynced: string[] = [];
      const held = new Set(['token-held-here']);
      new TokenResync(holding, { tokens: () => held, holds: (token) => held.has(token), resync: async (token) => void resynced.push(token) }, logger as unknown as Logger);
      await until(() => logger.lines.find((line) => line.level === 'warn' && line.message.includes('NOPERM')), 'the refusal logged');
      // The operator allows the channel: before, the refused subscription was never made again, and no resync
      // message reached this worker's tabs for as long as it ran.
      await admin.sendCommand(['ACL', 'SETUSER', 'no-resync', '&rx:resync']);
      await eventually('a resync message heard', async () => (await admin.publish('rx:resync', '["token-held-here"]'), resynced.length), (count) => count > 0, 60_000);
      expect(resynced[0]).toBe('token-held-here');
      expect(logger.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
      expect(logger.lines.some((line) => line.level === 'log' && line.message.startsWith('Subscribed to resync messages'))).toBe(true);
    } finally {
      await holding.close();
      await admin.sendCommand(['ACL', 'DELUSER', 'no-resync']).catch(() => undefined);
      await admin.quit().catch(() => undefined);
    }
  }, 90_000);
});

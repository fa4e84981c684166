import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Inject, Injectable } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { CACHE_MANAGER, CacheInterceptor, CacheKey, CacheModule } from '@nestjs/cache-manager';
import { BridgeTier, EventHandler, ReflexBridgeModule, State, consoleLog } from '@reflex-bridge/nest';
import type { Cache } from 'cache-manager';
import KeyvRedis from '@keyv/redis';
import { createClient } from 'redis';
import { describeWithRedis, RedisTestServer, type TestRedisClient } from './support/redis-server.js';
import { cachedAuthHarness, HELD, loginOverHttp, resetCachedUsers, type CachedAuthApp } from './fixtures/cached-auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const PROFILE_STATE = 'reflex___state____state.profile_state';

const SNAPSHOT_OF_CAROL = { userId: 1, isAuthenticated: true, readAtMs: expect.any(Number) };

const COUNTER_STATE = 'reflex___state____state.cached_counter_state';

/** A full-tier state whose handlers answer with a client event (what a toast or a redirect is). */
@State()
@BridgeTier('full')
class CachedCounterState {
  count = 0;

  @EventHandler()
  bump(): unknown {
    this.count += 1;
    return consoleLog(`bumped to ${this.count}`);
  }

  /** A handler that asks for caching itself, with a key of its own. */
  @EventHandler()
  @CacheKey('counter-peek')
  peek(): unknown {
    this.count += 100;
    return consoleLog(`peeked at ${this.count}`);
  }
}

/** A service of the app that reads the app's cache the way any app code would: injected by its token. */
@Injectable()
class AppCacheReader {
  constructor(@Inject(CACHE_MANAGER) readonly cache: Cache) {}
}

/** The session id inside a signed express-session cookie (`connect.sid=s%3A<id>.<signature>`). */
function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

/** Polls `read` until it yields something other than undefined (snapshots are written after the delta is emitted). */
async function eventually<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


describe('event cache on the app\'s @nestjs/cache-manager Cache', () => {
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  beforeEach(() => resetCachedUsers());
  afterEach(closeAll);

  /** Logs carol in over HTTP, sends one auth_only event (the middleware runs and the snapshot is written), then one more. */
  const fastAuthRoundTrip = async (app: CachedAuthApp) => {
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const socket = await connect(app, cookie);
    expect(await whoami(socket, '/first')).toBe('carol');
    const reader = app.app.get(AppCacheReader);
    const key = `rx:event:${sessionIdOf(cookie)}`;
    expect(await eventually(() => reader.cache.get(key), `${key} in the app's cache`)).toEqual(SNAPSHOT_OF_CAROL);
    // The next auth_only event takes the fast path: the session middleware does not run.
    const calls = app.calls.session;
    expect(await whoami(socket, '/second')).toBe('carol');
    expect(app.calls.session).toBe(calls);
    return { cookie, socket, key, reader };
  };

  it('writes the fast-auth snapshot under <keyPrefix><session id> into CACHE_MANAGER of a global CacheModule.register()', async () => {
    const app = await start({
      bridge: { eventCache: { cache: CACHE_MANAGER } },
      app: { imports: [CacheModule.register({ isGlobal: true })], providers: [AppCacheReader] },
    });
    const { cookie, socket, key, reader } = await fastAuthRoundTrip(app);
    // invalidate() drops it from the app's cache (and from the local layer).
    await app.cache.invalidate(sessionIdOf(cookie));
    expect(await reader.cache.get(key)).toBeUndefined();
    expect(await whoami(socket, '/third')).toBe('carol'); // a miss: through the middleware, and written again
    expect(await eventually(() => reader.cache.get(key), `${key} written again`)).toEqual(SNAPSHOT_OF_CAROL);
  });

  it('takes an alias token (\'reflex_events\', useExisting: CACHE_MANAGER), with forRootAsync', async () => {
    const app = await start({
      async: true,
      bridge: { eventCache: { cache: 'reflex_events' } },
      app: { imports: [CacheModule.register()], providers: [AppCacheReader, { provide: 'reflex_events', useExisting: CACHE_MANAGER }] },
    });
    const { key, reader } = await fastAuthRoundTrip(app);
    await reader.cache.set('app:own-key', 'kept');
    await app.cache.invalidateAll();
    expect(await reader.cache.get(key)).toBeUndefined();
    expect(await reader.cache.get('app:own-key')).toBe('kept');
  });

  it('keeps a logout that lands while another tab of the session has an event under way: no snapshot comes back', async () => {
    const app = await start({});
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const [tab, probe] = [await connect(app, cookie), await connect(app, cookie)];
    expect(await whoami(probe, '/before')).toBe('carol');
    // The tab's full-tier event loads carol from the session, then waits while the browser logs out in another tab.
    HELD.released = new Promise<void>((resolve) => (HELD.release = resolve));
    const started = HELD.started;
    tab.send(`${PROFILE_STATE}.hold`);
    await tab.until(() => HELD.started > started, undefined, 'the held event to run');
    expect((await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    expect(await whoami(probe, '/after-logout')).toBe('anonymous');
    HELD.release();
    // The tab's next event runs once the held one ended, snapshot writing included.
    expect(await whoami(tab, '/after-hold')).toBe('anonymous');
    expect(await whoami(probe, '/later')).toBe('anonymous');
    // Carol's snapshot never came back: the ended session's id is cached as anonymous, so its tabs skip the store.
    expect(await app.cache.get(sessionIdOf(cookie))).toEqual({ userId: null, isAuthenticated: false, readAtMs: expect.any(Number) });
  });

  it("keeps fast auth for a tab whose session was logged out in another tab: the store is read once, the app's cache gets one key", async () => {
    const app = await start({
      bridge: { eventCache: { cache: CACHE_MANAGER } },
      app: { imports: [CacheModule.register({ isGlobal: true })], providers: [AppCacheReader] },
    });
    const { cookie, socket, key, reader } = await fastAuthRoundTrip(app);
    const writes: string[] = [];
    // cache-manager reports each write once per store, then once for the whole cache: count the latter.
    reader.cache.on('set', (event: { key: string; store?: string }) => event.store === undefined && writes.push(event.key));
    expect((await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    const calls = app.calls.session;
    for (let i = 0; i < 5; i++) expect(await whoami(socket, `/after-logout/${i}`)).toBe('anonymous');
    // The first event after the logout read the store; the others were fast auth's "anonymous".
    expect(app.calls.session - calls).toBe(1);
    expect(writes).toEqual([key]);
    expect(await reader.cache.get(key)).toEqual({ userId: null, isAuthenticated: false, readAtMs: expect.any(Number) });
    // A login in the browser afterwards is a new session, with its own cookie: seen at once.
    const again = await loginOverHttp(app.url, 'carol', 'secret-carol');
    expect(await whoami(await connect(app, again), '/logged-in-again')).toBe('carol');
  });

  it('fails the startup, naming the token, when nothing provides it', async () => {
    await expect(start({ bridge: { eventCache: { cache: 'reflex_events' } } })).rejects.toThrow(/eventCache\.cache.*reflex_events/);
  });
});

describeWithRedis('event cache keys and local layers with a real Redis', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  const withClient = async <T>(use: (client: TestRedisClient) => Promise<T>): Promise<T> => {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.quit();
    }
  };

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  beforeEach(() => resetCachedUsers());
  afterEach(async () => {
    await closeAll();
    await withClient((client) => client.flushAll());
  });

  it('stores exactly rx:event:<session id> in Redis, with the module\'s own cache and with the app\'s', async () => {
    const own = await start({ sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url } } });
    const appOwned = await start({
      sessionRedisUrl: redis.url,
      bridge: { eventCache: { cache: CACHE_MANAGER, keyPrefix: 'app:rx:' } },
      app: { imports: [CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(redis.url)] })] },
    });
    for (const [app, prefix] of [[own, 'rx:event:'], [appOwned, 'app:rx:']] as const) {
      const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
      const socket = await connect(app, cookie);
      expect(await whoami(socket, '/')).toBe('carol');
      const key = `${prefix}${sessionIdOf(cookie)}`;
      const stored = await eventually(() => withClient(async (client) => (await client.get(key)) ?? undefined), `${key} in Redis`);
      expect(JSON.parse(stored)).toMatchObject({ value: SNAPSHOT_OF_CAROL });
      expect(await withClient((client) => client.keys(`${prefix}*`))).toEqual([key]);
    }
    // invalidateAll drops the snapshots under its prefix and nothing else (the sessions stay).
    await own.cache.invalidateAll();
    expect(await withClient((client) => client.keys('rx:event:*'))).toEqual([]);
    expect(await withClient((client) => client.keys('app:rx:*'))).toHaveLength(1);
    expect(await withClient((client) => client.keys('sess:*'))).toHaveLength(2);
  });

  it('invalidateAll() drops the snapshots in Redis under a keyPrefix with "::" in it (an app namespacing its keys)', async () => {
    const app = await start({ sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, keyPrefix: 'shop::event:' } } });
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    expect(await whoami(await connect(app, cookie), '/')).toBe('carol');
    const key = `shop::event:${sessionIdOf(cookie)}`;
    await eventually(() => withClient(async (client) => (await client.get(key)) ?? undefined), `${key} in Redis`);
    // The revocation the docs name for a kill switch: the snapshot must be gone from Redis, not only from this worker.
    await app.cache.invalidateAll();
    expect(await withClient((client) => client.keys('shop::event:*'))).toEqual([]);
    expect(await withClient((client) => client.keys('sess:*'))).toHaveLength(1);
  });

  it('a snapshot invalidated on worker A is not served from B\'s local layer once B forgets it', async () => {
    const options = { sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, localTtlMs: 60_000 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const sessionId = sessionIdOf(cookie);
    const onA = await connect(a, cookie);
    const onB = await connect(b, cookie);
    expect(await whoami(onA, '/a')).toBe('carol');
    await eventually(() => withClient((client) => client.get(`rx:event:${sessionId}`)), 'the snapshot in Redis');
    // B reads the snapshot from Redis (no middleware) and keeps it in its local layer.
    const bCalls = b.calls.session;
    expect(await whoami(onB, '/b1')).toBe('carol');
    expect(b.calls.session).toBe(bCalls);
    // The user logs out on A: A drops the shared snapshot; B has not heard of it yet.
    const response = await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(response.status).toBe(200);
    expect(await withClient((client) => client.keys('rx:event:*'))).toEqual([]);
    expect(await whoami(onB, '/b2')).toBe('carol'); // the window a short localTtlMs bounds
    // The session-ended signal reaches B: its local copy goes, and the next event runs the middleware.
    b.cache.forgetLocally(sessionId);
    expect(await whoami(onB, '/b3')).toBe('anonymous');
    expect(b.calls.session).toBeGreaterThan(bCalls);
  });

  it('with redisUrl, a logout on worker A drops the copy in B\'s local layer at once, with no call', async () => {
    // redisUrl links the workers: the end of a session on A is relayed, and B forgets its local copy.
    const options = { sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, eventCache: { localTtlMs: 60_000 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const onA = await connect(a, cookie);
    const onB = await connect(b, cookie);
    expect(await whoami(onA, '/a')).toBe('carol');
    await eventually(() => withClient((client) => client.get(`rx:event:${sessionIdOf(cookie)}`)), 'the snapshot in Redis');
    const bCalls = b.calls.session;
    expect(await whoami(onB, '/b1')).toBe('carol');
    expect(b.calls.session).toBe(bCalls); // served from the snapshot (B's local layer keeps it for a minute)
    const response = await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(response.status).toBe(200);
    await eventually(async () => ((await whoami(onB, '/b2')) === 'anonymous' ? true : undefined), 'B to see the logout');
  });
});

describe("the app's global CacheInterceptor (APP_INTERCEPTOR) and full-tier events", () => {
  let app: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    app = await startApp({
      imports: [CacheModule.register({ isGlobal: true }), ReflexBridgeModule.forRoot({})],
      providers: [CachedCounterState, { provide: APP_INTERCEPTOR, useClass: CacheInterceptor }],
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app.close();
  });

  /** What the handlers' answers would log in the browser, in order. */
  const logged = (socket: RawSocket) =>
    socket.updates
      .flatMap((update) => update.events ?? [])
      .filter((event) => event.name === '_call_function')
      .map((event) => /(bumped to|peeked at) \d+/.exec(String(event.payload['function']))?.[0]);

  it('runs every event: an event is never answered from the cache of a GET of its page', async () => {
    // Its synthetic request is a GET of the page's path: keyed by URL, the second event on '/' would get the first
    // one's answer, and its handler would not run.
    const tab = new RawSocket(app.url);
    const other = new RawSocket(app.url);
    sockets.push(tab, other);
    for (const socket of [tab, other]) {
      await socket.connected();
      await socket.hydrate();
    }
    for (const expected of [1, 2, 3]) {
      tab.send(`${COUNTER_STATE}.bump`);
      await tab.untilVar(COUNTER_STATE, 'count', expected);
    }
    other.send(`${COUNTER_STATE}.bump`);
    await other.untilVar(COUNTER_STATE, 'count', 1);
    await tab.until(() => logged(tab).length === 3, undefined, 'three answers');
    await other.until(() => logged(other).length === 1, undefined, 'its answer');
    expect(logged(tab)).toEqual(['bumped to 1', 'bumped to 2', 'bumped to 3']);
    expect(logged(other)).toEqual(['bumped to 1']);
  });

  it('caches a handler that names its key with @CacheKey(), as the app asked', async () => {
    const tab = new RawSocket(app.url);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${COUNTER_STATE}.peek`);
    await tab.untilVar(COUNTER_STATE, 'count', 100);
    tab.send(`${COUNTER_STATE}.peek`);
    tab.send(`${COUNTER_STATE}.bump`);
    await tab.untilVar(COUNTER_STATE, 'count', 101);
    await tab.until(() => logged(tab).length === 3, undefined, 'three answers');
    // The second peek was answered from the cache: its handler did not run.
    expect(logged(tab)).toEqual(['peeked at 100', 'peeked at 100', 'bumped to 101']);
  });
});

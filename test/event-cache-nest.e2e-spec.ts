import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Inject, Injectable } from '@nestjs/common';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import type { Cache } from 'cache-manager';
import KeyvRedis from '@keyv/redis';
import { createClient } from 'redis';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { cachedAuthHarness, HELD, loginOverHttp, resetCachedUsers, type CachedAuthApp } from './fixtures/cached-auth-app.js';

const PROFILE_STATE = 'reflex___state____state.profile_state';

const SNAPSHOT_OF_CAROL = { userId: 1, isAuthenticated: true };

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
    expect(await app.cache.get(sessionIdOf(cookie))).toBeUndefined();
  });

  it('fails the startup, naming the token, when nothing provides it', async () => {
    await expect(start({ bridge: { eventCache: { cache: 'reflex_events' } } })).rejects.toThrow(/eventCache\.cache.*reflex_events/);
  });
});

describeWithRedis('event cache keys and local layers with a real Redis', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  const withClient = async <T>(use: (client: ReturnType<typeof createClient>) => Promise<T>): Promise<T> => {
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

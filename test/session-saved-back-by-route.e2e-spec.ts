/**
 * A logout on one worker while a slow route of the app itself, on another worker, holds the same session. express-
 * session saves a request's session when its response ends, with no compare-and-set: a save that lands after the
 * destroy puts the ended session back into the store, user included, and the cookie is logged in again for the
 * session's whole lifetime. The bridge's own events are kept from that (see session-end-across-workers); the app's
 * routes go through the same session store, which the module watches.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { SessionEndings, type SessionEnd } from '../libs/reflex-bridge/src/common/session-endings.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { until } from './support/eventually.js';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers, ROUTE_HELD, type CachedAuthApp } from './fixtures/cached-auth-app.js';

/** The session id a signed express-session cookie (`connect.sid=s%3A<id>.<signature>`) names. */
const sessionIdOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;

/** Counts the session ends `app` heard from other workers, and holds them until `release()` when `hold` is set. */
function watchRemoteEnds(app: CachedAuthApp, hold: boolean): { release: () => void; arrived: () => number; heard: () => number } {
  const endings = app.app.get(SessionEndings);
  const report = endings.report.bind(endings);
  let release!: () => void;
  const gate = hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
  if (!hold) release = () => {};
  let arrived = 0;
  let heard = 0;
  endings.report = (end: SessionEnd) => {
    if (!end.remote) return report(end);
    arrived++;
    return gate.then(() => report(end)).finally(() => heard++);
  };
  return { release, arrived: () => arrived, heard: () => heard };
}

describeWithRedis("a logout on one worker while a slow app route on another holds the session", () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  const redisGet = async (key: string): Promise<string | null> => {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      return await client.get(key);
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
    ROUTE_HELD.release();
    await closeAll();
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.flushAll();
    await client.quit();
  });

  /**
   * dave logs in on A, his tab is on A too; a slow route on B loads his session (no event of his ran on B, so B's
   * bridge saved nothing of it); he logs out on A. `heardFirst`: B hears
   * of the logout before the route's save; otherwise after it. Returns what is left of the session afterwards.
   */
  async function logoutDuringSlowRoute(heardFirst: boolean): Promise<{ sessionInStore: boolean; seenOnA: unknown; routeStatus: number }> {
    const options = { sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, eventCache: { ttlSeconds: 60 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const sessionKey = `sess:${sessionIdOf(cookie)}`;
    const tab = await connect(a, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');
    // Someone else's tab on B: B's bridge met the session store.
    await connect(b, await loginOverHttp(b.url, 'carol', 'secret-carol'));

    const ends = watchRemoteEnds(b, !heardFirst);
    ROUTE_HELD.released = new Promise<void>((resolve) => (ROUTE_HELD.release = resolve));
    const started = ROUTE_HELD.started;
    const route = fetch(`${b.url}/visit-later`, { method: 'POST', headers: { cookie } });
    await until(() => ROUTE_HELD.started === started + 1, 'the slow route to load the session');

    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    expect(await redisGet(sessionKey)).toBeNull();
    await until(() => ends.arrived() === 1, 'the logout to reach B');
    if (heardFirst) await until(() => ends.heard() === 1, 'B to deal with the logout');

    ROUTE_HELD.release();
    const routeStatus = (await route).status;
    if (!heardFirst) {
      // The route's save landed before B heard of the logout.
      await until(async () => (await redisGet(sessionKey)) !== null, "the route's save to land");
      ends.release();
      await until(() => ends.heard() === 1, 'B to deal with the logout');
    }
    return { sessionInStore: (await redisGet(sessionKey)) !== null, seenOnA: await whoami(await connect(a, cookie), '/after-logout-on-a'), routeStatus };
  }

  it('does not save the ended session back when the worker heard of the logout before the route ended', async () => {
    // (Before: the route's save put dave's session back into Redis, logged in: his cookie was dave again everywhere.)
    expect(await logoutDuringSlowRoute(true)).toEqual({ sessionInStore: false, seenOnA: 'anonymous', routeStatus: 200 });
  });

  it('destroys the session again when the route saved it back before the worker heard of the logout', async () => {
    expect(await logoutDuringSlowRoute(false)).toEqual({ sessionInStore: false, seenOnA: 'anonymous', routeStatus: 200 });
  });
});

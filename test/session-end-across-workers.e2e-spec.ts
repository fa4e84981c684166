/**
 * A logout on one worker while an event of the same session is under way on another: the other worker learns of the
 * end over Redis pub/sub, a moment after the logout cleared the shared snapshot. An event there that read the session
 * before the logout and finishes in that moment writes its snapshot back into the shared cache; the logout must still
 * stick for fast auth on every worker, not for `eventCache.ttlSeconds` later.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { SessionEndings, type SessionEnd } from '../libs/reflex-bridge/src/common/session-endings.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { until } from './support/eventually.js';
import { cachedAuthHarness, HELD, loginOverHttp, resetCachedUsers, type CachedAuthApp } from './fixtures/cached-auth-app.js';

const PROFILE = 'reflex___state____state.profile_state';

/** The session id a signed express-session cookie (`connect.sid=s%3A<id>.<signature>`) names. */
const sessionIdOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;

/**
 * Holds the session ends that reach `app` from other workers until `release()`: the pub/sub message of a logout
 * arriving late, as it does on a busy worker (by a few milliseconds usually; here, until the test says so).
 */
function delayRemoteEnds(app: CachedAuthApp): { release: () => void; held: () => number } {
  const endings = app.app.get(SessionEndings);
  const report = endings.report.bind(endings);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  endings.report = (end: SessionEnd) => {
    if (!end.remote) return report(end);
    held++;
    return gate.then(() => report(end));
  };
  return { release, held: () => held };
}

describeWithRedis('a logout on one worker while an event of that session runs on another', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  /** The raw value of a session's snapshot in Redis (read beside the workers, so no worker's local layer fills). */
  const snapshotOf = async (sessionId: string): Promise<string | null> => {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      return await client.get(`rx:event:${sessionId}`);
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
    HELD.release();
    await closeAll();
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.flushAll();
    await client.quit();
  });

  it('leaves no snapshot of the ended session in the shared cache: the next auth_only event on any worker is anonymous', async () => {
    // Two workers sharing Redis sessions, the socket adapter and the event cache (no sessionStore watcher).
    const options = { sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, eventCache: { ttlSeconds: 60 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const tab = await connect(b, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');

    // A full event on B loads dave's session, then waits.
    const late = delayRemoteEnds(b);
    HELD.released = new Promise<void>((resolve) => (HELD.release = resolve));
    const started = HELD.started;
    tab.send(`${PROFILE}.hold`);
    await until(() => HELD.started === started + 1, 'the held event to start');

    // dave logs out on A (over HTTP): A drops the shared snapshot and tells B.
    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    expect(await snapshotOf(sessionIdOf(cookie))).toBeNull();
    await until(() => late.held() === 1, 'the logout to reach B');

    // B's event ends before B heard of the logout, and B hears of it just after.
    HELD.release();
    // Its snapshot of dave, read before the logout, lands in the shared cache after A dropped it.
    await until(async () => (await snapshotOf(sessionIdOf(cookie)))?.includes('"isAuthenticated":true'), "B's snapshot write");
    late.release();
    await tab.untilVar(PROFILE, 'isAuthenticated', false, 20_000);

    // The tab still presents the ended session's cookie: no worker may authenticate it as dave any more.
    // (Before: B's snapshot of dave stayed for the whole TTL, and both workers answered these events as dave.)
    const seen = { b: await whoami(tab, '/after-logout'), a: await whoami(await connect(a, cookie), '/after-logout-on-a') };
    expect(seen).toEqual({ b: 'anonymous', a: 'anonymous' });
    expect(await snapshotOf(sessionIdOf(cookie))).not.toContain('"isAuthenticated":true');
  });
});

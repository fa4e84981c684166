/**
 * A logout on one worker while an event of the same session is under way on another: the other worker learns of the
 * end over Redis pub/sub, a moment after the logout cleared the shared snapshot. An event there that read the session
 * before the logout and finishes in that moment writes its snapshot back into the shared cache; the logout must still
 * stick for fast auth on every worker, not for `eventCache.ttlSeconds` later.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { BridgeTier, EventHandler, EventSession, State } from '@reflex-bridge/nest';
import { SessionEndings, type SessionEnd } from '../libs/reflex-bridge/src/common/session-endings.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { until } from './support/eventually.js';
import { cachedAuthHarness, HELD, loginOverHttp, resetCachedUsers, type CachedAuthApp } from './fixtures/cached-auth-app.js';

const PROFILE = 'reflex___state____state.profile_state';
const WIZARD = 'reflex___state____state.wizard_state';

/** The gate {@link WizardState.saveStep} waits on; a test replaces it before sending the event. */
const GATE = { started: 0, released: Promise.resolve(), release: () => {} };

/** A form wizard that keeps its step in the session, after a slow check of the step. */
@State()
@BridgeTier('full')
class WizardState {
  saved = 0;

  @EventHandler()
  async saveStep(@EventSession() session: Record<string, unknown>): Promise<void> {
    GATE.started += 1;
    await GATE.released;
    session.wizardStep = 2;
    this.saved += 1;
  }
}

/** The session id a signed express-session cookie (`connect.sid=s%3A<id>.<signature>`) names. */
const sessionIdOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;

/**
 * Holds the session ends that reach `app` from other workers until `release()`: the pub/sub message of a logout
 * arriving late, as it does on a busy worker (by a few milliseconds usually; here, until the test says so).
 */
function delayRemoteEnds(app: CachedAuthApp, late: (end: SessionEnd) => boolean = (end) => end.remote): { release: () => void; held: () => number; heard: () => number } {
  const endings = app.app.get(SessionEndings);
  const report = endings.report.bind(endings);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  let heard = 0;
  endings.report = (end: SessionEnd) => {
    if (!late(end)) return report(end);
    held++;
    // `report` resolves once the caches (and what acts with them) have dealt with the end.
    return gate.then(() => report(end)).finally(() => heard++);
  };
  return { release, held: () => held, heard: () => heard };
}

describeWithRedis('a logout on one worker while an event of that session runs on another', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  /** The raw value of a session's snapshot in Redis (read beside the workers, so no worker's local layer fills). */
  const redisGet = async (key: string): Promise<string | null> => {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      return await client.get(key);
    } finally {
      await client.quit();
    }
  };
  const snapshotOf = (sessionId: string) => redisGet(`rx:event:${sessionId}`);

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await redis.destroy();
  });
  beforeEach(() => resetCachedUsers());
  afterEach(async () => {
    HELD.release();
    GATE.release();
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

  it('does not let the event save the ended session back into the store: the logout stays a logout for its cookie', async () => {
    const options = { sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, eventCache: { ttlSeconds: 60 } }, app: { providers: [WizardState] } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const sessionKey = `sess:${sessionIdOf(cookie)}`;
    const tab = await connect(b, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');

    // A wizard step on B reads dave's session, then waits on a slow check before writing to it.
    const late = delayRemoteEnds(b);
    GATE.released = new Promise<void>((resolve) => (GATE.release = resolve));
    const started = GATE.started;
    tab.send(`${WIZARD}.saveStep`);
    await until(() => GATE.started === started + 1, 'the wizard step to start');

    // dave logs out on A; his session is gone from the store.
    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    expect(await redisGet(sessionKey)).toBeNull();
    await until(() => late.held() === 1, 'the logout to reach B');

    // B's event ends (saving the session it read) before B heard of the logout, and B hears of it just after.
    GATE.release();
    await tab.untilVar(WIZARD, 'saved', 1);
    late.release();
    await until(() => late.heard() === 1, 'B to deal with the logout');

    // (Before: B's save put dave's session back into the store, logged in, for the session's whole lifetime: the
    // cookie of the ended session was dave again on every worker, and B's tab re-authenticated as dave.)
    const after = { sessionInStore: (await redisGet(sessionKey)) !== null, seenOnA: await whoami(await connect(a, cookie), '/after-logout-on-a') };
    expect(after).toEqual({ sessionInStore: false, seenOnA: 'anonymous' });
    await tab.untilVar(PROFILE, 'isAuthenticated', false, 20_000);
    expect(await whoami(tab, '/after-logout')).toBe('anonymous');
  });

  it('does not let the event save back a session deleted in Redis itself meanwhile (the sessionStore watcher)', async () => {
    const options = {
      sessionRedisUrl: redis.url,
      bridge: { redisUrl: redis.url, sessionStore: { prefix: 'sess:' }, eventCache: { ttlSeconds: 60 } },
      app: { providers: [WizardState] },
    };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const sessionKey = `sess:${sessionIdOf(cookie)}`;
    const tab = await connect(b, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');

    const late = delayRemoteEnds(b, (end) => end.reason === 'deleted');
    GATE.released = new Promise<void>((resolve) => (GATE.release = resolve));
    const started = GATE.started;
    tab.send(`${WIZARD}.saveStep`);
    await until(() => GATE.started === started + 1, 'the wizard step to start');

    // An admin deletes dave's session in Redis; B's watcher hears of it after B's event saved the session.
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.del(sessionKey).finally(() => client.quit());
    await until(() => late.held() >= 1, 'the deletion to reach B');
    GATE.release();
    await tab.untilVar(WIZARD, 'saved', 1);
    late.release();
    await until(() => late.heard() >= 1, 'B to deal with the deletion');

    const after = { sessionInStore: (await redisGet(sessionKey)) !== null, seenOnA: await whoami(await connect(a, cookie), '/after-deletion-on-a') };
    expect(after).toEqual({ sessionInStore: false, seenOnA: 'anonymous' });
  });
});


describeWithRedis('the fast-auth staleness window of a session revoked behind the module', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();

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
  });

  it('counts from when the event read the session: an event that outlived the TTL writes no snapshot', async () => {
    const ttlSeconds = 2;
    const a = await start({ sessionRedisUrl: redis.url, bridge: { eventCache: { ttlSeconds } } });
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const tab = await connect(a, cookie);
    // A full event reads carol's session, then waits.
    HELD.released = new Promise<void>((resolve) => (HELD.release = resolve));
    const started = HELD.started;
    tab.send(`${PROFILE}.hold`);
    await until(() => HELD.started === started + 1, 'the held event to start');
    // Her sessions are deleted directly in the store (a password change), where the module cannot see it.
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      await client.del(`sess:${sessionIdOf(cookie)}`);
      // A marker that expires ttlSeconds after the revocation, on Redis's clock: the window the docs promise is over.
      await client.set('marker', '1', { PX: ttlSeconds * 1000 });
      await until(async () => (await client.exists('marker')) === 0, 'the staleness window to pass');
    } finally {
      await client.quit();
    }
    HELD.release();
    // (Before: the event wrote carol's snapshot as it ended, with a fresh TTL: fast auth answered carol for another
    // ttlSeconds, past the window.)
    expect(await whoami(tab, '/after-window')).toBe('anonymous');
  });
});

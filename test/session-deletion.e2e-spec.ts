/**
 * Sessions deleted behind the module's back: the session lives in a real Redis (connect-redis, prefix `sess:`),
 * fast auth serves `auth_only` events from cached snapshots, and someone deletes the session key directly in Redis
 * (an admin revoking it) or it expires there. Two apps share the Redis as two workers. With the `sessionStore`
 * option the session must end at once on both: live sockets are re-authenticated (the server's report that the
 * session ended) and the next `auth_only` event is anonymous, with no snapshot left to serve it.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { freePort } from './support/ports.js';
import { loginOverHttp, resetCachedUsers, startCachedAuthApp, type CachedAuthApp } from './fixtures/cached-auth-app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const PROFILE = 'reflex___state____state.profile_state';

/** The session id inside an express-session cookie (`connect.sid=s%3A<id>.<signature>`). */
function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

describeWithRedis('sessions deleted or expired directly in Redis end at once on every worker', () => {
  let redis: RedisTestServer;
  let data: ReturnType<typeof createClient>;
  const apps: CachedAuthApp[] = [];
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    resetCachedUsers();
    redis = await RedisTestServer.launch();
    data = createClient({ url: redis.url });
    await data.connect();
    // Flags someone else needs (keyevent notifications of list commands): the module must keep them.
    await data.configSet('notify-keyspace-events', 'El');
    for (let i = 0; i < 2; i++) {
      apps.push(await startCachedAuthApp({ sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url, sessionStore: { prefix: 'sess:' } } }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    for (const app of apps) await app.close();
    await data?.close().catch(() => undefined);
    await redis?.destroy();
  }, 60_000);

  /** A logged-in tab on `app` whose `auth_only` events are answered by fast auth from the cached snapshot. */
  const loggedInTab = async (app: CachedAuthApp, cookie: string, sessionId: string): Promise<RawSocket> => {
    const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${PROFILE}.whoami`);
    await tab.untilVar(PROFILE, 'seen', 'carol');
    await tab.untilVar(PROFILE, 'isAuthenticated', true);
    // Cached: from now on the tab's auth_only events take the fast path, without the session middleware.
    expect(await app.cache.get(sessionId)).toMatchObject({ isAuthenticated: true });
    return tab;
  };

  /** Waits for the server's report that the session ended (the tab re-authenticated as anonymous), then checks. */
  const expectEnded = async (app: CachedAuthApp, tab: RawSocket, sessionId: string) => {
    await tab.untilVar(PROFILE, 'isAuthenticated', false, 20_000);
    // The user's snapshot is gone. An anonymous one may be there already: another tab's event after the end
    // caches the ended session as anonymous, so that its tabs skip the store.
    expect((await app.cache.get(sessionId))?.isAuthenticated ?? false).toBe(false);
    const errors = tab.errors.length;
    tab.send(`${PROFILE}.whoami`);
    await tab.untilVar(PROFILE, 'seen', 'anonymous');
    expect(tab.errors.length).toBe(errors);
  };

  it('turns keyspace notifications on at startup (CONFIG SET), keeping what was set', async () => {
    const flags = (await data.configGet('notify-keyspace-events'))['notify-keyspace-events'];
    for (const flag of 'KgxeEl') expect(flags).toContain(flag);
    expect(apps[0].logger.lines.filter((line) => /keyspace/i.test(line.message))).toEqual([]);
  });

  it('a session DEL-eted in Redis: both workers drop its snapshot and re-authenticate its sockets; the next auth_only event is anonymous', async () => {
    const cookie = await loginOverHttp(apps[0].url, 'carol', 'secret-carol');
    const sessionId = sessionIdOf(cookie);
    const tabs = [await loggedInTab(apps[0], cookie, sessionId), await loggedInTab(apps[1], cookie, sessionId)];

    expect(await data.del(`sess:${sessionId}`)).toBe(1);
    for (const [i, tab] of tabs.entries()) await expectEnded(apps[i], tab, sessionId);
  });

  it('a session that expires in Redis ends the same way', async () => {
    const cookie = await loginOverHttp(apps[1].url, 'carol', 'secret-carol');
    const sessionId = sessionIdOf(cookie);
    const tab = await loggedInTab(apps[0], cookie, sessionId);

    // The session middleware touches the key (EXPIRE) when the last event's response ends, which may land after
    // our PEXPIRE: expire it again while it is still there, until the server reports the session ended.
    const deadline = Date.now() + 20_000;
    while (tab.latest(PROFILE, 'isAuthenticated') !== false && Date.now() < deadline) {
      if (await data.exists(`sess:${sessionId}`)) await data.pExpire(`sess:${sessionId}`, 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await expectEnded(apps[0], tab, sessionId);
  });

  it('other keys and other changes to a session key end nothing', async () => {
    const cookie = await loginOverHttp(apps[0].url, 'carol', 'secret-carol');
    const sessionId = sessionIdOf(cookie);
    const tab = await loggedInTab(apps[1], cookie, sessionId);
    await data.set('other:key', '1');
    await data.del('other:key');
    await data.expire(`sess:${sessionId}`, 3600);
    // A marker after those: once its deletion was heard (another session ended), the earlier ones were too.
    const marker = await loginOverHttp(apps[0].url, 'dave', 'secret-dave');
    const markerId = sessionIdOf(marker);
    const markerTab = new RawSocket(apps[1].url, undefined, { headers: { cookie: marker } });
    sockets.push(markerTab);
    await markerTab.connected();
    await markerTab.hydrate();
    markerTab.send(`${PROFILE}.whoami`);
    await markerTab.untilVar(PROFILE, 'isAuthenticated', true);
    await data.del(`sess:${markerId}`);
    await markerTab.untilVar(PROFILE, 'isAuthenticated', false, 20_000);

    expect(tab.latest(PROFILE, 'isAuthenticated')).toBe(true);
    tab.send(`${PROFILE}.whoami`);
    tab.send(`${PROFILE}.countVisit`);
    await tab.untilVar(PROFILE, 'visits', 1);
    expect(tab.latest(PROFILE, 'seen')).toBe('carol');
  });

  it('says what to set when the server refuses CONFIG (managed Redis)', async () => {
    // A Redis that refuses CONFIG, as managed services do.
    const port = await freePort();
    const server = spawn(RedisTestServer.findBinary()!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--rename-command', 'CONFIG', ''], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    const probe = createClient({ url, socket: { reconnectStrategy: 50 } });
    probe.on('error', () => undefined);
    let app: CachedAuthApp | undefined;
    try {
      await probe.connect();
      app = await startCachedAuthApp({ sessionRedisUrl: url, bridge: { sessionStore: { redisUrl: url } } });
      const warning = app.logger.lines.find((line) => line.level === 'warn' && /keyspace notifications/.test(line.message));
      expect(warning?.message).toMatch(/notify-keyspace-events to include "Kgxe"/);
      // Still serving: logins and events work; only deletions in Redis wait for the snapshot's TTL.
      const cookie = await loginOverHttp(app.url, 'dave', 'secret-dave');
      const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
      sockets.push(tab);
      await tab.connected();
      await tab.hydrate();
      tab.send(`${PROFILE}.whoami`);
      await tab.untilVar(PROFILE, 'seen', 'dave');
    } finally {
      await app?.close();
      await probe.close().catch(() => undefined);
      server.kill('SIGKILL');
    }
  });
});

import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import type { RawSocket } from './support/raw-socket.js';
import { CACHED_USERS, cachedAuthHarness, loginOverHttp, resetCachedUsers } from './fixtures/cached-auth-app.js';

const PROFILE = 'reflex___state____state.profile_state';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithRedis('event cache and fast auth with a real Redis', () => {
  let redis: RedisTestServer;
  const { start, connect, closeAll } = cachedAuthHarness();
  const keys = async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    const found = await client.keys('rx:event:*');
    await client.quit();
    return found;
  };
  /**
   * Waits until Redis holds `count` snapshots. Snapshots are written after the event's delta is emitted, and
   * expire on Redis's clock: wait for the condition, never for a duration.
   */
  const untilKeys = async (count: number, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await keys();
      if (found.length === count) return;
      if (Date.now() > deadline) throw new Error(`expected ${count} event-cache keys, found ${found.length}`);
      await sleep(20);
    }
  };
  /** Sends whoami and waits until it ran (its `checks` counter moved), whatever it saw. */
  const whoami = async (socket: RawSocket, pathname: string) => {
    const before = (socket.latest(PROFILE, 'checks') as number | undefined) ?? 0;
    socket.send(`${PROFILE}.whoami`, {}, { pathname });
    await socket.untilVar(PROFILE, 'checks', before + 1, 20_000);
  };
  const whoamiSeen = async (socket: RawSocket, pathname: string) => {
    await whoami(socket, pathname);
    return socket.latest(PROFILE, 'seen');
  };

  /**
   * Two instances sharing Redis sessions and snapshots, dave logged in on A, and his tab on B that has run one
   * fast-auth event (its snapshot written).
   */
  const daveTabOnB = async () => {
    const options = { sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 60 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'dave', 'secret-dave');
    const onB = await connect(b, cookie);
    onB.send(`${PROFILE}.whoami`);
    await onB.untilVar(PROFILE, 'seen', 'dave');
    await untilKeys(1);
    return { a, b, cookie, onB };
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
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.flushAll();
    await client.quit();
  });

  it('shares snapshots between two app instances: a fast-auth event on B skips the middleware after A ran it', async () => {
    const options = { sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 30 } } };
    const a = await start(options);
    const b = await start(options);
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const onA = await connect(a, cookie);
    const onB = await connect(b, cookie);
    const bBefore = b.calls.session;
    onA.send(`${PROFILE}.whoami`);
    await onA.untilVar(PROFILE, 'seen', 'carol');
    await untilKeys(1);
    onB.send(`${PROFILE}.whoami`);
    await onB.untilVar(PROFILE, 'seen', 'carol');
    expect(b.calls.session - bBefore).toBe(0);
    // Fast auth loads the user by id, so a role change shows at once.
    CACHED_USERS.get(1)!.role = 'owner';
    onB.send(`${PROFILE}.whoami`, {}, { pathname: '/again' });
    await onB.untilVar(PROFILE, 'role', 'owner');
    expect(b.calls.session - bBefore).toBe(0);
    // The lazy session: asking for it runs the session middleware once, and only then.
    onB.send(`${PROFILE}.countVisit`);
    await onB.untilVar(PROFILE, 'visits', 1);
    expect(b.calls.session - bBefore).toBe(1);
  });

  it('expires entries after the TTL, and TTL 0 writes nothing', async () => {
    const a = await start({ bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 1 } } });
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const socket = await connect(a, cookie);
    socket.send(`${PROFILE}.whoami`);
    await socket.untilVar(PROFILE, 'seen', 'carol');
    await untilKeys(1);
    await untilKeys(0);
    const before = a.calls.session;
    CACHED_USERS.get(1)!.role = 'admin';
    socket.send(`${PROFILE}.whoami`, {}, { pathname: '/x' });
    await socket.untilVar(PROFILE, 'role', 'admin');
    expect(a.calls.session - before).toBe(1); // a miss: the middleware ran, and wrote the snapshot again
    await untilKeys(1);

    const disabled = await start({ bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 0 } } });
    await untilKeys(0); // the first app's snapshot expired
    const cookie2 = await loginOverHttp(disabled.url, 'dave', 'secret-dave');
    const other = await connect(disabled, cookie2);
    const calls = disabled.calls.session;
    for (let i = 0; i < 3; i++) other.send(`${PROFILE}.whoami`, {}, { pathname: `/${i}` });
    // All three ran (`seen` is 'dave' from the first one on: the other two could still be on their way).
    await other.untilVar(PROFILE, 'checks', 3);
    expect(other.latest(PROFILE, 'seen')).toBe('dave');
    // Absence: a snapshot would be written right after its event's delta; the time it had before to show up.
    await sleep(100);
    expect(await keys()).toEqual([]);
    expect(disabled.calls.session - calls).toBe(3);
  });

  it('bounds the staleness of fast auth by the TTL when sessions are revoked behind its back', async () => {
    const options = { sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 1 } } };
    const a = await start(options);
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const socket = await connect(a, cookie);
    const snapshotBefore = Date.now(); // the snapshot is written after this, so it expires after this + the TTL
    socket.send(`${PROFILE}.whoami`);
    await socket.untilVar(PROFILE, 'seen', 'carol');
    // A password change that deletes the user's sessions directly in the store, bypassing the bridge.
    const client = createClient({ url: redis.url });
    await client.connect();
    for (const key of await client.keys('sess:*')) await client.del(key);
    await client.quit();
    // Stale within the TTL. On a loaded machine the TTL may have run out by the time the event ran; then the event
    // must have seen the truth, and only then.
    const stale = await whoamiSeen(socket, '/stale');
    if (stale !== 'carol') {
      expect(stale).toBe('anonymous');
      expect(Date.now() - snapshotBefore).toBeGreaterThanOrEqual(1_000);
    }
    // Once the snapshot expired (on Redis's clock, then on the worker's for its own copy), an event sees the truth.
    await untilKeys(0);
    const deadline = Date.now() + 20_000;
    let attempt = 0;
    while ((await whoamiSeen(socket, `/fresh-${attempt++}`)) !== 'anonymous') {
      if (Date.now() > deadline) throw new Error('fast auth still answered the revoked session 20 s after its TTL');
      await sleep(50);
    }
  });

  it('sees a logout on one instance at once on the other', async () => {
    const { a, cookie, onB } = await daveTabOnB();
    const invalidated: unknown[] = [];
    a.cache.invalidated$.subscribe((event) => invalidated.push(event));
    const response = await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(response.status).toBe(200);
    expect(invalidated).toEqual([expect.objectContaining({ reason: 'logout' })]);
    onB.send(`${PROFILE}.whoami`, {}, { pathname: '/after-logout' });
    await onB.untilVar(PROFILE, 'seen', 'anonymous');
  });

  it('keeps fast auth for a tab whose session was logged out elsewhere: one store read, no key per event', async () => {
    const { a, b, cookie, onB } = await daveTabOnB();
    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    await untilKeys(0);
    // The tab stays open and keeps sending auth_only events with the cookie of the ended session.
    const before = b.calls.session;
    for (let i = 0; i < 6; i++) await whoami(onB, `/after-logout-${i}`);
    expect(onB.latest(PROFILE, 'seen')).toBe('anonymous');
    // Only the first event read the session store; the others were answered from the cache, as anonymous.
    expect(b.calls.session - before).toBe(1);
    // One snapshot, under the id the tab presents: not one key per event under ids no cookie names.
    await untilKeys(1);
    expect((await keys())[0]).toBe(`rx:event:${decodeURIComponent(cookie.split('=')[1]).slice(2).split('.')[0]}`);
    // Logging in again in that tab gives it a new session: seen at once, never the cached anonymous answer.
    const again = await loginOverHttp(b.url, 'dave', 'secret-dave');
    const relogged = await connect(b, again);
    expect(await whoamiSeen(relogged, '/relogged')).toBe('dave');
  });

  it('writes no key for events whose session cookie is forged', async () => {
    const a = await start({ sessionRedisUrl: redis.url, bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 60 } } });
    const socket = await connect(a, 'connect.sid=s%3Aforged-session-id.not-a-signature');
    // Events run one at a time per tab, snapshot writing included: each one wrote before the next one ran.
    for (let i = 0; i < 5; i++) expect(await whoamiSeen(socket, `/forged-${i}`)).toBe('anonymous');
    expect(await keys()).toEqual([]);
  });

  it('keeps handling events through the middleware while Redis is down, warns, and uses the cache again once it is back', async () => {
    const a = await start({ bridge: { eventCache: { redisUrl: redis.url, ttlSeconds: 60, operationTimeoutMs: 200 } } });
    const cookie = await loginOverHttp(a.url, 'carol', 'secret-carol');
    const socket = await connect(a, cookie);
    socket.send(`${PROFILE}.whoami`);
    await socket.untilVar(PROFILE, 'seen', 'carol');
    await redis.stop();
    const before = a.calls.session;
    for (let i = 0; i < 3; i++) {
      socket.send(`${PROFILE}.countVisit`, {}, { pathname: `/down/${i}` });
      await socket.untilVar(PROFILE, 'visits', i + 1, 10_000);
    }
    expect(socket.errors).toEqual([]);
    expect(a.calls.session - before).toBeGreaterThanOrEqual(3);
    expect(a.logger.lines.some((line) => line.level === 'warn' && /event cache is unavailable/.test(line.message))).toBe(true);
    await redis.start();
    // Once Redis answers again, a slow-path event re-writes the snapshot and the next one takes the fast path.
    // The cache's reconnect takes its own time: events until one is answered from the cache (no middleware call).
    const deadline = Date.now() + 20_000;
    for (let i = 1; ; i++) {
      if (Date.now() > deadline) throw new Error('the event cache was never used again after Redis came back');
      const calls = a.calls.session;
      await whoami(socket, `/back/${i}`);
      if (a.calls.session === calls) break;
    }
    const afterRecovery = a.calls.session;
    await whoami(socket, '/fast/1');
    await whoami(socket, '/fast/2');
    expect(a.calls.session - afterRecovery).toBe(0);
    expect(await keys()).toHaveLength(1);
  }, 30_000);
});

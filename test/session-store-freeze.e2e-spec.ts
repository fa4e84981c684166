/**
 * An app's session store that freezes (its Redis stopped with SIGSTOP: the connection stays open and nothing
 * answers), with a store that bounds nothing itself (connect-redis on node-redis's defaults). The bridge reads the
 * session for `auth_only` and `full` events: a read that never ends must not hold that client's events for ever,
 * and must not touch other clients.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { RawSocket } from './support/raw-socket.js';
import { cachedAuthHarness, HELD, loginOverHttp, resetCachedUsers } from './fixtures/cached-auth-app.js';
import { until } from './support/eventually.js';

const PROFILE = 'reflex___state____state.profile_state';

/**
 * Resolves with `promise`'s outcome, or 'still waiting' when it has not settled within `ms`. Only for "did not hang":
 * the bound is many times the timeout the fixed code has (`bridge.middlewareTimeoutMs`, 1 s here).
 */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describeWithRedis('a session store that freezes', () => {
  let redis: RedisTestServer;
  const { start, connect, whoami, closeAll } = cachedAuthHarness();

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    redis?.resume();
    await redis?.destroy();
  });
  afterEach(async () => {
    HELD.release();
    redis.resume();
    await closeAll();
    resetCachedUsers();
  });

  it("answers the client's event session_unavailable after bridge.middlewareTimeoutMs, leaves other clients alone, and works after the thaw", async () => {
    // No fast auth and states in memory: every auth_only event reads the session, and only the session store is on Redis.
    const app = await start({ sessionRedisUrl: redis.url, withFastAuth: false, bridgeOptions: { middlewareTimeoutMs: 1_000 } });
    const cookie = await loginOverHttp(app.url, 'dave', 'secret-dave');
    const tab = await connect(app, cookie);
    expect(await whoami(tab, '/before')).toBe('dave');
    const other = await RawSocket.hydrated(app.url);

    redis.pause();
    try {
      tab.send(`${PROFILE}.whoami`, {}, { pathname: '/frozen' });
      // Before: the event waited for the session store until the thaw (still waiting after 20 s, and for ever
      // without a thaw); its tab's later events queued behind it.
      const answered = await within(tab.until(() => tab.errors.length > 0, 60_000, 'a bridge_error').then(() => tab.errors[0]), 20_000);
      expect(answered).toMatchObject({ code: 'session_unavailable', event: `${PROFILE}.whoami` });
      // Another client (no session cookie: nothing to read from the store) is answered meanwhile.
      expect(await whoami(other, '/other')).toBe('anonymous');
    } finally {
      redis.resume();
    }
    // After the thaw the same tab's events read the session again.
    expect(await whoami(tab, '/after')).toBe('dave');
  }, 60_000);

  it('answers session_unavailable when the session save at the end of an event does not finish in time, and the tab goes on after the thaw', async () => {
    const app = await start({ sessionRedisUrl: redis.url, withFastAuth: false, bridgeOptions: { middlewareTimeoutMs: 1_000 } });
    const cookie = await loginOverHttp(app.url, 'dave', 'secret-dave');
    const tab = await connect(app, cookie);
    HELD.released = new Promise<void>((resolve) => (HELD.release = resolve));
    const started = HELD.started;
    tab.send(`${PROFILE}.countVisitLater`);
    await until(() => HELD.started === started + 1 || undefined, 'the event to read the session and start');
    redis.pause();
    let answered: unknown;
    try {
      // The handler writes the session; its save at the event's end meets the frozen store.
      HELD.release();
      // Before: the event never ended (still waiting after 20 s, and until the thaw), and the tab's later events
      // waited behind it.
      answered = await within(tab.until(() => tab.errors.length > 0, 60_000, 'a bridge_error').then(() => tab.errors[0]), 20_000);
    } finally {
      redis.resume();
    }
    expect(answered).toMatchObject({ code: 'session_unavailable', event: `${PROFILE}.countVisitLater` });
    expect(await whoami(tab, '/after')).toBe('dave');
  }, 60_000);
});

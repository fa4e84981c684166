/**
 * What an unmodified Reflex tab (`state.js`'s own reconnect rule, {@link StateJsTab}) does when the server refuses
 * or drops its connection for a cause that passes: it must come back by itself once the cause is gone, with its
 * token and state, at `state.js`'s own backoff (never a tight loop).
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { NextFunction } from 'express';
import { EventHandler, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { STATE_JS_BACKOFF_STEP_MS, StateJsTab } from './support/state-js-reconnect.js';

const ROOT = 'reflex___state____state';
const COUNTER = `${ROOT}.admission_counter_state`;

@State()
class AdmissionCounterState {
  count = 0;

  @EventHandler()
  increment(): void {
    this.count++;
  }
}

/** Every request is in one session: tokens get bound to it, so admission reads each token's owner from the store. */
function oneSession(req: { sessionID?: string; user?: unknown }, _res: unknown, next: NextFunction): void {
  req.sessionID = 'admission-session';
  req.user = { id: 1 };
  next();
}

/** Opens a tab, hydrates it and counts to `count`. */
async function countingTab(url: string, count: number): Promise<StateJsTab> {
  const tab = new StateJsTab(url, randomUUID());
  await eventually('the tab connected', () => tab.connects, (n) => n === 1);
  tab.send(`${ROOT}.hydrate`);
  for (let i = 0; i < count; i++) tab.send(`${COUNTER}.increment`);
  await eventually('the tab counted', () => tab.latest(COUNTER, 'count'), (value) => value === count);
  return tab;
}

describeWithRedis('a Reflex tab refused while the state store is down or frozen comes back by itself', () => {
  let redis: RedisTestServer;
  let running: RunningApp;
  const tabs: StateJsTab[] = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url, bridge: { authMiddleware: [oneSession] } })],
      providers: [AdmissionCounterState],
    });
  }, 60_000);
  afterEach(async () => {
    redis.resume();
    await redis.start();
    for (const tab of tabs.splice(0)) tab.close();
  });
  afterAll(async () => {
    await running?.close();
    await redis?.destroy();
  }, 60_000);

  it.each([
    ['stopped', () => redis.stop(), () => redis.start()],
    ['frozen', () => redis.pause(), () => redis.resume()],
  ] as const)('Redis %s while the tab reconnects: refused at the handshake (state.js backs off), then back with its own token and state', async (_how, breakIt, mendIt) => {
    const tab = await countingTab(running.url, 3);
    tabs.push(tab);
    const token = tab.token;
    await breakIt();
    const outageStart = Date.now();
    // The tab's connection is lost (a network blip): state.js reconnects at once.
    tab.socket.io.engine.close();
    await eventually('the handshake refused', () => tab.connectErrors.length, (n) => n >= 2, 30_000);
    // Refused, not let in with a new token and a fresh state it would keep after the store came back.
    expect(tab.newTokens).toEqual([]);
    expect(tab.connects).toBe(1);
    expect(tab.connectErrors[0].data).toMatchObject({ code: 'state_store_unavailable' });
    await mendIt();
    const outageMs = Date.now() - outageStart;
    await eventually('the tab back', () => tab.connects, (n) => n === 2, 30_000);
    // state.js's backoff paced the attempts: 200 ms more per kept error, never a tight loop.
    expect(tab.connectErrors.length).toBeLessThanOrEqual(Math.ceil(outageMs / STATE_JS_BACKOFF_STEP_MS) + 2);
    expect(tab.token).toBe(token);
    expect(tab.newTokens).toEqual([]);
    tab.send(`${ROOT}.hydrate`);
    await eventually('its state back', () => tab.latest(COUNTER, 'count'), (value) => value === 3);
  }, 90_000);
});

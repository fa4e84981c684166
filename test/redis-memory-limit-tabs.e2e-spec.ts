/**
 * `redisMemoryLimitBytes` on the module: tabs that only hydrated, each leaving a large state (its page's long query in
 * the router var), fill Redis past the limit; the store drops them, and a user's tab that did something keeps its
 * state and goes on working. The per-address budgets are off: many addresses together would pass them anyway.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { Registry } from 'prom-client';
import { EventHandler, ReflexBridgeModule, State, StateStore } from '@reflex-bridge/nest';
import type { RedisStateStore } from '../libs/reflex-bridge/src/state/store/redis-state.store.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const TAB = 'reflex___state____state.counter_state';
/** About the size of the query each throw-away tab hydrates with (its router data may hold 32,768 characters). */
const QUERY_BYTES = 30_000;
const TABS = 160;

@State()
class CounterState {
  count = 0;

  @EventHandler()
  increment(): void {
    this.count++;
  }
}

describeWithRedis('the module keeps Redis within redisMemoryLimitBytes: throw-away tabs go, a working tab stays', () => {
  let server: RedisTestServer;
  let running: RunningApp;
  let redis: ReturnType<typeof createClient>;
  const sockets: RawSocket[] = [];
  let limit = 0;
  const registry = new Registry();

  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    redis = createClient({ url: server.url });
    await redis.connect();
    // Less than what the tabs' states will take beyond an empty Redis (about twice their queries): they cannot all stay.
    limit = (await usedMemory()) + Math.floor(0.75 * TABS * QUERY_BYTES);
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ redisUrl: server.url, redisMemoryLimitBytes: limit, rateLimit: { newStates: false, newTabs: false }, metrics: { registry, log: false } })],
      providers: [CounterState],
    });
  }, 30_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running?.close();
    await redis?.quit();
    await server?.destroy();
  });

  async function openTab(routerData: Record<string, unknown>): Promise<RawSocket> {
    const socket = new RawSocket(running.url);
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate(routerData);
    return socket;
  }

  it('drops the states of throw-away tabs past the limit, and keeps those of open tabs and of the tab in use', async () => {
    const user = await openTab({ pathname: '/', asPath: '/' });
    user.send(`${TAB}.increment`);
    await user.untilVar(TAB, 'count', 1);

    const open: RawSocket[] = [];
    for (let i = 0; i < TABS; i++) {
      const q = `${i}-`.padEnd(QUERY_BYTES, 'q');
      const tab = await openTab({ pathname: '/', asPath: `/?q=${q}`, query: { q } });
      // One in ten stays open, as a tab of a user reading the page: its state is never dropped.
      if (i % 10 === 0) open.push(tab);
      else tab.close();
    }
    // The closed tabs' records (a token's socket, in Redis while a tab holds it) are gone once the worker saw them close.
    const records = async () => (await redis.keys('rx:socket:*')).length;
    const deadline = Date.now() + 20_000;
    while ((await records()) > open.length + 1) {
      if (Date.now() > deadline) throw new Error(`${await records()} token records left, expected ${open.length + 1}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const store = running.app.get(StateStore) as RedisStateStore;
    await store.checkMemory();

    // Within the limit: a check over it sweeps down to 90% of it, and the periodic one may have swept before the last
    // tabs came, which then stayed under the limit.
    expect(await usedMemory()).toBeLessThanOrEqual(limit);
    expect(store.droppedOverMemoryLimit).toBeGreaterThan(TABS / 4);
    // What an operator's dashboard shows: the same count, at each scrape.
    expect((await registry.getSingleMetricAsString('reflex_bridge_states_dropped_total')).split('\n').at(-1)).toBe(`reflex_bridge_states_dropped_total ${store.droppedOverMemoryLimit}`);
    for (const tab of open) expect(await redis.exists(`rx:state:v2:{${tab.token}}`)).toBe(1);
    // The user's tab has its count still, and goes on from it.
    user.send(`${TAB}.increment`);
    await user.untilVar(TAB, 'count', 2);
    expect(user.errors).toEqual([]);
  });
});

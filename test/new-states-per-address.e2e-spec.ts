/**
 * `rateLimit.newStates` on a real Redis: how many new tab states one client address may have kept for the full
 * `stateTtlSeconds`, read where it matters, as the expiry Redis holds for each state.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { EventHandler, ReflexBridgeModule, ReflexStateService, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const TAB = 'reflex___state____state.tab_state';
/** Short enough to tell from the hour a kept state gets, long enough not to expire while a test reads it. */
const SHORT_TTL_SECONDS = 60;
const FULL_TTL_SECONDS = 3600;
/** A window that cannot end during the test: a new window is made by deleting the counter (what its expiry does). */
const BUDGET = { limit: 3, ttlMs: 600_000 };

/** A tab's state, changed by its clicks. */
@State()
class TabState {
  clicks = 0;

  @EventHandler()
  click(): void {
    this.clicks++;
  }
}

describeWithRedis('new states per client address (rateLimit.newStates) on a Redis store', () => {
  let server: RedisTestServer;
  let running: RunningApp;
  let redis: ReturnType<typeof createClient>;
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    redis = createClient({ url: server.url });
    await redis.connect();
    running = await startApp({
      imports: [
        ReflexBridgeModule.forRoot({
          redisUrl: server.url,
          stateTtlSeconds: FULL_TTL_SECONDS,
          unusedStateTtlSeconds: SHORT_TTL_SECONDS,
          rateLimit: { newStates: BUDGET },
          // Each socket says its address in X-Forwarded-For: two addresses from one test process.
          bridge: { trustProxy: true },
        }),
      ],
      providers: [TabState],
    }, undefined, logger);
  }, 30_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running?.close();
    await redis?.quit();
    await server?.destroy();
  });

  /** A hydrated tab from `ip`. */
  async function openTab(ip: string): Promise<RawSocket> {
    const socket = new RawSocket(running.url, undefined, { headers: { 'x-forwarded-for': ip } });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  }

  /** Clicks on `tab` and waits for its answer. */
  async function click(tab: RawSocket): Promise<void> {
    const before = (tab.latest(TAB, 'clicks') as number | undefined) ?? 0;
    tab.send(`${TAB}.click`);
    await tab.untilVar(TAB, 'clicks', before + 1);
  }

  /** Seconds Redis keeps the tab's state for (rounded up); -2 when it has none. */
  async function ttlOf(tab: RawSocket): Promise<number> {
    const ms = await redis.pTTL(`rx:state:v2:{${tab.token}}`);
    return ms < 0 ? ms : Math.ceil(ms / 1000);
  }

  it('keeps the first states of an address for the full TTL and the next ones short; their tabs work on, and each address has its own budget', async () => {
    // Address B: two tabs clicking again and again, then a third: clicks of tabs that have the full TTL are not
    // counted, so the third tab is still within the budget of three.
    const b = [await openTab('198.51.100.9'), await openTab('198.51.100.9')];
    for (const tab of b) for (let i = 0; i < 5; i++) await click(tab);
    b.push(await openTab('198.51.100.9'));
    await click(b[2]!);
    for (const tab of b) expect(await ttlOf(tab)).toBeGreaterThan(SHORT_TTL_SECONDS);

    // Address A, another budget: five new tabs, one after another, one click each.
    const a: RawSocket[] = [];
    for (let i = 0; i < 5; i++) {
      const tab = await openTab('203.0.113.7');
      await click(tab);
      a.push(tab);
    }
    const ttls = await Promise.all(a.map(ttlOf));
    expect(ttls.slice(0, 3).every((ttl) => ttl > SHORT_TTL_SECONDS)).toBe(true);
    expect(ttls.slice(3).every((ttl) => ttl > 0 && ttl <= SHORT_TTL_SECONDS)).toBe(true);
    // The operator is told, once for the address: its users notice nothing until a tab idles.
    expect(logger.lines.filter((line) => line.level === 'warn' && line.message.startsWith('Keeping new states from 203.0.113.7 short'))).toHaveLength(1);

    // The tabs kept short work as any other: their clicks count on, and their state stays short while the budget is spent.
    for (let i = 0; i < 3; i++) await click(a[3]!);
    expect(a[3]!.latest(TAB, 'clicks')).toBe(4);
    expect(await ttlOf(a[3]!)).toBeLessThanOrEqual(SHORT_TTL_SECONDS);
    // And B's budget is spent too now: its fourth tab is kept short, whatever A did.
    b.push(await openTab('198.51.100.9'));
    await click(b[3]!);
    expect(await ttlOf(b[3]!)).toBeLessThanOrEqual(SHORT_TTL_SECONDS);

    // A tab that only hydrated is not a new state of the budget: it has the short life it always had.
    const idle = await openTab('192.0.2.1');
    expect(await ttlOf(idle)).toBeLessThanOrEqual(SHORT_TTL_SECONDS);

    // Changes no tab's event made (the app's, a live list's, which a client may set off for all its tabs at once) give
    // no state the full TTL: a state kept short, or only hydrated, stays short, and the change is kept.
    const states = running.app.get(ReflexStateService);
    for (const tab of [a[3]!, idle]) {
      await states.modify(tab.token, TabState, (state) => void state.clicks++);
      expect(await ttlOf(tab)).toBeLessThanOrEqual(SHORT_TTL_SECONDS);
    }
    expect((await states.read(a[3]!.token, TabState)).clicks).toBe(5);
    expect((await states.read(idle.token, TabState)).clicks).toBe(1);

    // Once the address's window ends (its counter expires), a short tab's next change gets the full TTL, keeping its clicks.
    const counters = [];
    for await (const keys of redis.scanIterator({ MATCH: '*new-state@203.0.113.7*' })) counters.push(...([] as string[]).concat(keys));
    expect(counters.length).toBe(1);
    await redis.del(counters);
    await click(a[4]!);
    expect(a[4]!.latest(TAB, 'clicks')).toBe(2);
    expect(await ttlOf(a[4]!)).toBeGreaterThan(SHORT_TTL_SECONDS);
  }, 60_000);
});

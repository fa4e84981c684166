/**
 * `rateLimit.newStates` and `rateLimit.newTabs` on a real Redis: how many new tab states one client address may have
 * kept for the full `stateTtlSeconds`, read where it matters, as the expiry Redis holds for each state, and how many
 * tabs with no state it may have a state made for at all.
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
/** New tabs per address (`rateLimit.newTabs`), with a window as long. */
const NEW_TABS = { limit: 6, ttlMs: 600_000 };

/** A tab's state, changed by its clicks. */
@State()
class TabState {
  clicks = 0;

  @EventHandler()
  click(): void {
    this.clicks++;
  }
}

describeWithRedis('new states and new tabs per client address (rateLimit.newStates, rateLimit.newTabs) on a Redis store', () => {
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
          rateLimit: { newStates: BUDGET, newTabs: NEW_TABS },
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
    const counter = await counters('new-state', '203.0.113.7');
    expect(counter).toHaveLength(1);
    await redis.del(counter);
    await click(a[4]!);
    expect(a[4]!.latest(TAB, 'clicks')).toBe(2);
    expect(await ttlOf(a[4]!)).toBeGreaterThan(SHORT_TTL_SECONDS);
  }, 60_000);

  /** The counters of `rateLimit.<name>` for `ip` in Redis. */
  async function counters(name: string, ip: string): Promise<string[]> {
    const found: string[] = [];
    for await (const keys of redis.scanIterator({ MATCH: `*${name}@${ip}*` })) found.push(...([] as string[]).concat(keys));
    return found;
  }

  it("refuses a tab with no state past its address's budget of new tabs, stores nothing for it, and serves it once the window ends", async () => {
    const ip = '198.18.0.1';
    const tabs: RawSocket[] = [];
    for (let i = 0; i < NEW_TABS.limit; i++) tabs.push(await openTab(ip));
    const late = new RawSocket(running.url, undefined, { headers: { 'x-forwarded-for': ip } });
    sockets.push(late);
    await late.connected();
    late.send('reflex___state____state.hydrate');
    await late.until(() => late.errors.length > 0, undefined, 'the refusal');
    expect(late.errors[0]).toMatchObject({ code: 'rate_limited', event: 'reflex___state____state.hydrate', message: expect.stringContaining('Too many new tabs from your address') });
    expect(late.errors[0]!.retryAfterMs).toBeGreaterThan(0);
    expect(late.errors[0]!.retryAfterMs).toBeLessThanOrEqual(NEW_TABS.ttlMs);
    expect(await ttlOf(late)).toBe(-2);
    expect(logger.lines.filter((line) => line.level === 'warn' && line.message.startsWith(`Refusing new tabs from ${ip}:`))).toHaveLength(1);

    // The address's tabs that have a state work on, hydrating again included (as a reload does), and another address
    // opens tabs.
    await click(tabs[0]!);
    await tabs[1]!.hydrate();
    await click(tabs[1]!);
    await openTab('198.18.0.2');

    // Once the window ends (its counter expires), the refused tab is served.
    const counter = await counters('new-tab', ip);
    expect(counter).toHaveLength(1);
    await redis.del(counter);
    await late.hydrate();
    await click(late);
    expect(late.latest(TAB, 'clicks')).toBe(1);
  }, 60_000);
});

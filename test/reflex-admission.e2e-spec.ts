/**
 * What an unmodified Reflex tab (`state.js`'s own reconnect rule, {@link StateJsTab}) does when the server refuses
 * or drops its connection for a cause that passes: it must come back by itself once the cause is gone, with its
 * token and state, at `state.js`'s own backoff (never a tight loop).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { NextFunction } from 'express';
import { createClient } from 'redis';
import { EventHandler, ReflexBridgeModule, State, StateStore } from '@reflex-bridge/nest';
import { ADMISSION_RETRY_CLOSE_MS, EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { ClientRegistry } from '../libs/reflex-bridge/src/gateway/client-registry.js';
import { REFUSAL_NOTICE_EVERY_MS } from '../libs/reflex-bridge/src/pipeline/refusal-notices.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { STATE_JS_BACKOFF_STEP_MS, STATE_JS_FINAL_REASONS, StateJsTab } from './support/state-js-reconnect.js';

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

/** A state whose vars take {@link BULKY_BYTES} of the token's state once filled. */
@State()
class BulkyState {
  text = '';

  @EventHandler()
  fill(): void {
    this.text = 'x'.repeat(BULKY_BYTES);
  }
}

const BULKY = `${ROOT}.bulky_state`;
const BULKY_BYTES = 256 * 1024;

/** Every request is in one session: tokens get bound to it. */
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

describe.each([
  ['tokens bound to sessions (bridge.authMiddleware)', { authMiddleware: [oneSession] }],
  ['bearer tokens (no bridge.authMiddleware)', {}],
])('with %s', (_tokens, bridge) => describeWithRedis('a Reflex tab refused while the state store is down or frozen comes back by itself', () => {
  let redis: RedisTestServer;
  let running: RunningApp;
  const tabs: StateJsTab[] = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url, bridge })],
      providers: [AdmissionCounterState, BulkyState],
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

  it("reads the token's owner entry alone to admit a reconnecting tab, not its whole state", async () => {
    const tab = await countingTab(running.url, 1);
    tabs.push(tab);
    const token = tab.token;
    tab.send(`${BULKY}.fill`);
    await eventually('the state filled', () => (tab.latest(BULKY, 'text') as string | undefined)?.length, (length) => length === BULKY_BYTES);
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      const stats = async () => {
        const info = String(await raw.sendCommand(['INFO', 'all']));
        return { reads: Number(/cmdstat_hgetall:calls=(\d+)/.exec(info)?.[1] ?? 0), bytesOut: Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1]) };
      };
      const before = await stats();
      // The tab's connection is lost (a network blip): state.js reconnects at once, and is admitted (no hydrate yet).
      tab.socket.io.engine.close();
      await eventually('the tab back', () => tab.connects, (n) => n === 2);
      // Admitted: the token bound to its new socket (after every read admission does).
      const registry = running.app.get(ClientRegistry, { strict: false });
      await eventually('the tab admitted', () => registry.get(token)?.sid, (sid) => sid === tab.socket.id);
      const after = await stats();
      // Before: its owner was read with HGETALL, the whole state (256 KiB here, up to maxStateBytes) sent to the worker
      // once per connection (twice with bound tokens); now one HGET of the owner entry.
      expect(after.reads - before.reads).toBe(0);
      expect(after.bytesOut - before.bytesOut).toBeLessThan(BULKY_BYTES / 4);
      expect(tab.newTokens).toEqual([]);
    } finally {
      await raw.quit();
    }
  }, 90_000);
}));

@State()
class PointerState {
  moves = 0;
  clicks = 0;

  /** What an unthrottled `on_mouse_move` calls, about 60 times a second while the pointer moves. */
  @EventHandler()
  move(): void {
    this.moves++;
  }

  @EventHandler()
  click(): void {
    this.clicks++;
  }
}

const POINTER = `${ROOT}.pointer_state`;

/** The toasts the server asked a Reflex tab to show for refusals of `code` (`_call_function` carrying the error). */
function toastsFor(tab: StateJsTab, code: string): unknown[] {
  const events = tab.updates.flatMap((update) => ((update as { events?: Array<{ name: string; payload?: { bridge_error?: { code?: string } } }> }).events ?? []));
  return events.filter((event) => event.name === '_call_function' && event.payload?.bridge_error?.code === code);
}

describe('other refusals of a Reflex tab: which ones it comes back from by itself', () => {
  let running: RunningApp;
  const tabs: StateJsTab[] = [];
  const open = (token: string = randomUUID(), headers?: Record<string, string>): StateJsTab => {
    const tab = new StateJsTab(running.url, token, { headers });
    tabs.push(tab);
    return tab;
  };

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ maxConnectionsPerAddress: 2 })], providers: [PointerState] });
  }, 60_000);
  afterEach(async () => {
    for (const tab of tabs.splice(0)) tab.close();
    // The closed tabs' connections leave the address's count once the server saw them close.
    const gateway = running.app.get(EventGateway);
    await eventually('the tabs gone', () => gateway.connectionsPerAddress.addresses, (n) => n === 0);
  });
  afterAll(async () => {
    await running?.close();
  }, 60_000);

  it('over maxConnectionsPerAddress: refused with 429 at the upgrade (connect_error), back at state.js\'s backoff once a connection of the address closed', async () => {
    const first = open();
    const second = open();
    await eventually('two tabs connected', () => first.connects + second.connects, (n) => n === 2);
    const third = open();
    const refusedFrom = Date.now();
    await eventually('the third refused', () => third.connectErrors.length, (n) => n >= 3);
    expect(third.connects).toBe(0);
    first.close();
    await eventually('the third tab connected', () => third.connects, (n) => n === 1, 30_000);
    const refusedMs = Date.now() - refusedFrom;
    expect(third.connectErrors.length).toBeLessThanOrEqual(Math.ceil(refusedMs / STATE_JS_BACKOFF_STEP_MS) + 2);
    expect(third.disconnects).toEqual([]);
  }, 60_000);

  it('a refused origin and a malformed token are final: never let in, tried again at state.js\'s backoff, not in a tight loop', async () => {
    const foreign = open(randomUUID(), { origin: 'https://elsewhere.example' });
    const malformed = open('x');
    const from = Date.now();
    await eventually('both refused a few times', () => Math.min(foreign.connectErrors.length, malformed.connectErrors.length), (n) => n >= 4, 30_000);
    const elapsed = Date.now() - from;
    expect(foreign.connects + malformed.connects).toBe(0);
    expect(malformed.connectErrors[0].data).toMatchObject({ code: 'no_token' });
    // 200 ms, 400 ms, 600 ms...: the 4th try comes at least 1.2 s after the first refusal.
    expect(elapsed).toBeGreaterThanOrEqual(3 * STATE_JS_BACKOFF_STEP_MS * 2);
  }, 60_000);

  it('an unthrottled on_mouse_move uses up the connection\'s budget: refusals with one toast, the connection kept, events run again once the window ends', async () => {
    const tab = open();
    await eventually('connected', () => tab.connects, (n) => n === 1);
    tab.send(`${ROOT}.hydrate`);
    // What ~60 moves a second send within the 10 s window (and more), in answered batches as a pointer streams them:
    // the budget is 500, hydrate counted, so 499 moves run and the 500th is refused.
    for (let sent = 0; sent < 500; ) {
      for (let i = 0; i < 50; i++) tab.send(`${POINTER}.move`);
      sent += 50;
      const expected = Math.min(sent, 499);
      await tab.until(`${expected} moves`, () => tab.latest(POINTER, 'moves') === expected);
    }
    await tab.until('the refusal shown', () => toastsFor(tab, 'rate_limited').length === 1);
    tab.send(`${POINTER}.click`);
    await tab.until('the click refused', () => tab.bridgeErrors.some((error) => error.code === 'rate_limited' && error.event === `${POINTER}.click`));
    // Only the block's first refusal is shown: the click's own refusal is a bridge_error, which state.js ignores.
    expect(toastsFor(tab, 'rate_limited')).toHaveLength(1);
    // The click was refused with the moves: the page showed one toast, and the click did nothing.
    expect(tab.latest(POINTER, 'clicks')).toBe(0);
    // Clicking again until the window ends (a refused event does not extend it): the click runs, on the same connection.
    await eventually(
      'a click runs again',
      () => {
        tab.send(`${POINTER}.click`);
        return tab.latest(POINTER, 'clicks');
      },
      (value) => typeof value === 'number' && value >= 1,
      30_000,
    );
    expect(tab.connects).toBe(1);
    expect(tab.disconnects).toEqual([]);
  }, 60_000);
});

describe('a Reflex tab whose events are refused for its budget long after the first toast', () => {
  let running: RunningApp;
  const tabs: StateJsTab[] = [];

  beforeAll(async () => {
    // A window far longer than a toast stays on screen: refusals go on long after the first one's toast faded.
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ rateLimit: { perConnection: { limit: 5, ttlMs: 120_000 } } })], providers: [PointerState] });
  }, 60_000);
  afterAll(async () => {
    for (const tab of tabs.splice(0)) tab.close();
    await running?.close();
  }, 60_000);

  it('is shown a refused click again once the last toast faded (at most one toast per REFUSAL_NOTICE_EVERY_MS), each event still answered once', async () => {
    const tab = new StateJsTab(running.url, randomUUID());
    tabs.push(tab);
    await eventually('connected', () => tab.connects, (n) => n === 1);
    tab.send(`${ROOT}.hydrate`);
    for (let i = 0; i < 4; i++) tab.send(`${POINTER}.move`);
    await tab.until('4 moves', () => tab.latest(POINTER, 'moves') === 4);
    // The budget is used up: the next move is refused, and shown.
    tab.send(`${POINTER}.move`);
    await tab.until('the first refusal shown', () => toastsFor(tab, 'rate_limited').length === 1);
    const from = Date.now();
    // The user clicks now and then, within the same window: each click is refused. Before, none of those refusals was
    // shown (bridge_error only, which state.js ignores): once the first toast faded, a click silently did nothing.
    let clicks = 0;
    await eventually(
      'a later refused click shown',
      () => {
        tab.send(`${POINTER}.click`);
        clicks++;
        return toastsFor(tab, 'rate_limited').length;
      },
      (n) => n >= 2,
      30_000,
    );
    await tab.until('every click answered', () => tab.bridgeErrors.filter((error) => error.event === `${POINTER}.click`).length === clicks);
    // Shown again, but bounded: at most one toast per REFUSAL_NOTICE_EVERY_MS, the first one included.
    expect(toastsFor(tab, 'rate_limited').length).toBeLessThanOrEqual(2 + Math.floor((Date.now() - from) / REFUSAL_NOTICE_EVERY_MS));
    // One bridge_error per refused event, never more (clients count answers).
    expect(tab.bridgeErrors.filter((error) => error.code === 'rate_limited')).toHaveLength(clicks + 1);
    // The toast shown is a refused click's own.
    const last = toastsFor(tab, 'rate_limited').at(-1) as { payload: { bridge_error: { event?: string } } };
    expect(last.payload.bridge_error.event).toBe(`${POINTER}.click`);
    expect(tab.latest(POINTER, 'clicks')).toBe(0);
    expect(tab.connects).toBe(1);
  }, 60_000);
});

describe('a Reflex tab cut for the heartbeat', () => {
  let running: RunningApp;
  const tabs: StateJsTab[] = [];

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ pingIntervalMs: 300, pingTimeoutMs: 300 })], providers: [AdmissionCounterState] });
  }, 60_000);
  afterAll(async () => {
    for (const tab of tabs.splice(0)) tab.close();
    await running?.close();
  }, 60_000);

  it('comes back by itself with its token and state once it answers again (a tab frozen, a link that stalled)', async () => {
    const tab = await countingTab(running.url, 2);
    tabs.push(tab);
    const token = tab.token;
    // The tab stops reading its connection (a frozen page, a stalled link): no ping reaches it, no pong comes back.
    const stalled = (tab.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } }).ws._socket;
    stalled.pause();
    await eventually('the tab back on a new connection', () => tab.connects, (n) => n === 2, 30_000);
    expect(tab.disconnects).toHaveLength(1);
    expect(STATE_JS_FINAL_REASONS).not.toContain(tab.disconnects[0]);
    expect(tab.token).toBe(token);
    tab.send(`${ROOT}.hydrate`);
    await eventually('its state back', () => tab.latest(COUNTER, 'count'), (value) => value === 2);
  }, 60_000);
});

describe('a Reflex tab whose admission fails', () => {
  let running: RunningApp;
  const tabs: StateJsTab[] = [];

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: [oneSession] } })], providers: [AdmissionCounterState] });
  }, 60_000);
  afterAll(async () => {
    for (const tab of tabs.splice(0)) tab.close();
    await running?.close();
  }, 60_000);

  it('is closed for state.js to reconnect (never io server disconnect), at most once per ADMISSION_RETRY_CLOSE_MS, and is let in once admission works', async () => {
    // The handshake's read of the token's owner works; admission's second read, once the token is free, fails.
    const store = running.app.get(StateStore);
    const readEntry = store.readEntry.bind(store);
    const token = randomUUID();
    let failing = true;
    let reads = 0;
    store.readEntry = async (key: string, name: string) => {
      if (key === token && failing && reads++ % 2 === 1) throw new Error('the store failed during admission');
      return readEntry(key, name);
    };
    try {
      const tab = new StateJsTab(running.url, token);
      tabs.push(tab);
      const from = Date.now();
      await eventually('the tab reconnected after its failed admission', () => tab.connects, (n) => n >= 2, 30_000);
      expect(tab.disconnects.length).toBeGreaterThanOrEqual(1);
      expect(STATE_JS_FINAL_REASONS).not.toContain(tab.disconnects[0]);
      // Not a tight loop: one handshake per ADMISSION_RETRY_CLOSE_MS at most.
      expect(tab.connects).toBeLessThanOrEqual(Math.floor((Date.now() - from) / ADMISSION_RETRY_CLOSE_MS) + 1);
      failing = false;
      // The page's hydrate, sent again on each connection as state.js does: dropped on one whose admission failed.
      let hydratedOn = 0;
      await eventually(
        'the tab served',
        () => {
          if (tab.socket.connected && hydratedOn !== tab.connects) {
            hydratedOn = tab.connects;
            tab.send(`${ROOT}.hydrate`);
          }
          return tab.latest(COUNTER, 'count');
        },
        (value) => value === 0,
        30_000,
      );
      expect(tab.token).toBe(token);
    } finally {
      store.readEntry = readEntry;
    }
  }, 60_000);
});

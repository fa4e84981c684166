import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { SkipThrottle, Throttle, ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, ReflexBridgeModule, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { RedisThrottlerStorage } from '../libs/reflex-bridge/src/security/redis-throttler.storage.js';
import { describeRateLimitStorageContract } from '../libs/reflex-bridge/src/security/rate-limit-storage.contract.js';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { ALL_STATES, createAuthStack } from './fixtures/auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const ROOT = 'reflex___state____state';
const GUESS = `${ROOT}.guess_state`;
const ACCOUNT = `${ROOT}.account_state`;

/** A state with a rate-limited handler, unlimited ones, and one exempt from the connection budget. */
@State()
class GuessState {
  guesses = 0;
  slowGuesses = 0;
  bumps = 0;
  pings = 0;

  /** 3 per 5 s per client IP (blocked for 5 s after the 4th). */
  @EventHandler()
  @Throttle({ default: { limit: 3, ttl: 5_000 } })
  guess(): void {
    this.guesses++;
  }

  /** 3 per minute per client IP: a window that cannot end during a test. */
  @EventHandler()
  @Throttle({ default: { limit: 3, ttl: 60_000 } })
  guessSlowly(): void {
    this.slowGuesses++;
  }

  @EventHandler()
  bump(): void {
    this.bumps++;
  }

  @EventHandler()
  @SkipThrottle()
  ping(): void {
    this.pings++;
  }
}

interface Refusal {
  code: string;
  event?: string;
  retryAfterMs?: number;
}

const refusals = (socket: RawSocket) => (socket.errors as Refusal[]).filter((error) => error.code === 'rate_limited');
const count = (socket: RawSocket, name: string) => (socket.latest(GUESS, name) as number | undefined) ?? 0;

/**
 * Starts an app serving {@link GuessState}; `bridge.trustProxy` lets each socket say its address in X-Forwarded-For.
 * The per-token queue is made deep enough for the bursts sent here, so what refuses them is the rate limit alone
 * (a burst over `maxQueuedEvents` would be answered `busy` first).
 */
function startGuessApp(options: ReflexBridgeModuleOptions = {}): Promise<RunningApp> {
  return startApp({ imports: [ReflexBridgeModule.forRoot({ maxQueuedEvents: 10_000, ...options, bridge: { trustProxy: true } })], providers: [GuessState] });
}

/** A hydrated socket whose client address is `ip` (through X-Forwarded-For, honoured with trustProxy). */
async function openSocket(url: string, ip?: string, opened?: RawSocket[]): Promise<RawSocket> {
  const socket = new RawSocket(url, undefined, { headers: ip ? { 'x-forwarded-for': ip } : {} });
  opened?.push(socket);
  await socket.connected();
  await socket.hydrate();
  return socket;
}

/** Polls `predicate` (it reads several sockets, so no one socket's messages can wake the wait) until it holds. */
async function eventually(predicate: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Sends `event` again and again (a short pause between tries) until the server runs it, seen as `name` reaching
 * `expected`; every try before must be refused with `rate_limited`. Fails after `timeoutMs`.
 */
async function resendUntilAccepted(socket: RawSocket, event: string, name: string, expected: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let tries = 1; ; tries++) {
    const before = refusals(socket).length;
    socket.send(event);
    await socket.until(() => count(socket, name) === expected || refusals(socket).length > before, 10_000, `an answer to try ${tries}`);
    if (count(socket, name) === expected) return tries;
    if (Date.now() > deadline) throw new Error(`${event} was still refused after ${timeoutMs} ms (${tries} tries)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('rate limits on events', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    running = await startGuessApp();
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await running.close();
  });

  it('a. @Throttle on a handler: the 4th call in the window is refused with a retry delay, state unchanged, others unaffected, then it works again', async () => {
    const guesser = await openSocket(running.url, '203.0.113.1', sockets);
    for (let i = 0; i < 4; i++) guesser.send(`${GUESS}.guess`);
    await guesser.until(() => count(guesser, 'guesses') === 3 && refusals(guesser).length === 1, 10_000, '3 guesses and 1 refusal');
    const [refusal] = refusals(guesser);
    expect(refusal).toMatchObject({ code: 'rate_limited', event: `${GUESS}.guess` });
    expect(refusal.retryAfterMs).toBeGreaterThan(0);
    expect(refusal.retryAfterMs).toBeLessThanOrEqual(5_000);
    // Events run in order per client: once a later event's change arrives, the refused one would have shown.
    guesser.send(`${GUESS}.bump`);
    await guesser.untilVar(GUESS, 'bumps', 1);
    expect(count(guesser, 'guesses')).toBe(3);

    // Another address has its own counter.
    const other = await openSocket(running.url, '203.0.113.2', sockets);
    other.send(`${GUESS}.guess`);
    await other.untilVar(GUESS, 'guesses', 1);
    expect(other.errors).toEqual([]);

    // Once the block is over, the handler runs again.
    await resendUntilAccepted(guesser, `${GUESS}.guess`, 'guesses', 4);
    expect(refusals(guesser).every((each) => each.retryAfterMs! > 0 && each.retryAfterMs! <= 5_000)).toBe(true);
  }, 60_000);

  it('a. counts per client IP, not per socket or claimed address: a new socket from the same address is refused too', async () => {
    const first = await openSocket(running.url, '203.0.113.3', sockets);
    for (let i = 0; i < 3; i++) first.send(`${GUESS}.guessSlowly`);
    await first.untilVar(GUESS, 'slowGuesses', 3);
    const second = await openSocket(running.url, '203.0.113.3', sockets);
    second.send(`${GUESS}.guessSlowly`);
    await second.until(() => refusals(second).length === 1);
    expect(refusals(second)[0]).toMatchObject({ code: 'rate_limited', event: `${GUESS}.guessSlowly` });
    // An address claimed in router_data changes nothing: the server's own view of the client wins.
    second.send(`${GUESS}.guessSlowly`, {}, { pathname: '/', asPath: '/', ip: '198.18.0.1', headers: { 'x-forwarded-for': '198.18.0.1' } });
    await second.until(() => refusals(second).length === 2);
    expect(count(second, 'slowGuesses')).toBe(0);
  });

  it('b. the module default budget per connection: 500 events per 10 s, then rate_limited; @SkipThrottle handlers and other sockets go on', async () => {
    const flooder = await openSocket(running.url, '203.0.113.4', sockets);
    // The two hydration events counted too: 498 bumps fit in the budget, the other 102 are refused.
    for (let i = 0; i < 600; i++) flooder.send(`${GUESS}.bump`);
    await flooder.until(() => refusals(flooder).length === 102 && count(flooder, 'bumps') === 498, 30_000, '498 bumps and 102 refusals');
    for (const refusal of refusals(flooder)) {
      expect(refusal.event).toBe(`${GUESS}.bump`);
      expect(refusal.retryAfterMs).toBeGreaterThan(0);
      expect(refusal.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    flooder.send(`${GUESS}.ping`);
    await flooder.untilVar(GUESS, 'pings', 1);
    expect(count(flooder, 'bumps')).toBe(498);
    expect(refusals(flooder)).toHaveLength(102);

    const neighbour = await openSocket(running.url, '203.0.113.4', sockets);
    neighbour.send(`${GUESS}.bump`);
    await neighbour.untilVar(GUESS, 'bumps', 1);
    expect(neighbour.errors).toEqual([]);
  }, 60_000);

  it('b. each event of a connection whose Cookie header holds thousands of cookies costs what parsing them costs', async () => {
    const app = await startGuessApp({ rateLimit: { perConnection: { limit: 90, ttlMs: 600_000 } } });
    const opened: RawSocket[] = [];
    try {
      // 2,000 one-letter cookies (13 kB, within Node's header limit): every full-tier event parses them again.
      const stuffedCookie = Array.from({ length: 2_000 }, (_, i) => `${i.toString(36)}=1`).join('; ');
      const stuffed = new RawSocket(app.url, undefined, { headers: { 'x-forwarded-for': '203.0.113.9', cookie: stuffedCookie } });
      opened.push(stuffed);
      await stuffed.connected();
      await stuffed.hydrate();
      const ordinary = await openSocket(app.url, '203.0.113.9', opened);
      for (let i = 0; i < 100; i++) {
        stuffed.send(`${GUESS}.bump`);
        ordinary.send(`${GUESS}.bump`);
      }
      await eventually(
        () => count(stuffed, 'bumps') + refusals(stuffed).length === 100 && count(ordinary, 'bumps') + refusals(ordinary).length === 100,
        30_000,
        () => `every bump answered (stuffed ${count(stuffed, 'bumps')}+${refusals(stuffed).length}, ordinary ${count(ordinary, 'bumps')}+${refusals(ordinary).length})`,
      );
      // 8 units more per event (one per 250 cookies): 90 units go in 10 events, hydration's among them.
      expect(count(stuffed, 'bumps')).toBeLessThanOrEqual(10);
      expect(count(ordinary, 'bumps')).toBe(88);
    } finally {
      for (const socket of opened) socket.close();
      await app.close();
    }
  }, 60_000);

  it('b. a custom budget, and none with perConnection: false', async () => {
    const strict = await startGuessApp({ rateLimit: { perConnection: { limit: 5, ttlMs: 60_000 } } });
    const loose = await startGuessApp({ rateLimit: { perConnection: false } });
    try {
      const a = await openSocket(strict.url, undefined, sockets);
      for (let i = 0; i < 5; i++) a.send(`${GUESS}.bump`);
      await a.until(() => count(a, 'bumps') === 3 && refusals(a).length === 2);
      const b = await openSocket(loose.url, undefined, sockets);
      for (let i = 0; i < 700; i++) b.send(`${GUESS}.bump`);
      await b.untilVar(GUESS, 'bumps', 700, 30_000);
      expect(b.errors).toEqual([]);
    } finally {
      for (const socket of sockets.splice(0)) socket.close();
      await Promise.all([strict.close(), loose.close()]);
    }
  }, 60_000);
});

/** A `full`-tier state under the app's own global ThrottlerGuard, the way Nest's docs set one up. */
@State()
@BridgeTier('full')
class OrderState {
  orders = 0;

  @EventHandler()
  order(): void {
    this.orders++;
  }
}

const WATCH_LABEL = 'rate.watched';

/** A live list whose own `live_subscribe` handler is limited (its guards may read a database). */
@State()
class WatchedState {
  @LiveList(WATCH_LABEL)
  rows: Array<{ id: number }> = [];

  @EventHandler()
  @Throttle({ default: { limit: 2, ttl: 60_000 } })
  live_subscribe(): void {}
}

/** A live list whose whole state is limited: its built-in `live_subscribe` is one of its events. */
@State()
@Throttle({ default: { limit: 2, ttl: 60_000 } })
class WatchedClassState {
  @LiveList(WATCH_LABEL)
  rows: Array<{ id: number }> = [];
}

describe('rate limits on live_subscribe', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { trustProxy: true } })], providers: [WatchedState, WatchedClassState] });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it.each([
    ['its own live_subscribe handler', `${ROOT}.watched_state`, '192.0.2.40'],
    ['its state class', `${ROOT}.watched_class_state`, '192.0.2.41'],
  ])('honours @Throttle on %s: past the limit, live_subscribe is refused with rate_limited and subscribes nothing', async (_where, state, ip) => {
    const live = running.app.get(LiveBroadcaster);
    const socket = await openSocket(running.url, ip, sockets);
    const before = live.subscriberCount(WATCH_LABEL);
    socket.send(`${state}.live_subscribe`);
    await socket.until(() => live.subscriberCount(WATCH_LABEL) === before + 1, 10_000, 'the first subscription');
    socket.send(`${state}.live_subscribe`);
    socket.send(`${state}.live_subscribe`);
    await socket.until(() => refusals(socket).length === 1, 10_000, 'the third live_subscribe to be refused');
    expect(refusals(socket)[0]).toMatchObject({ code: 'rate_limited', event: `${state}.live_subscribe` });
    // Another address is not limited by this one's calls; a socket from this one is.
    const sameAddress = await openSocket(running.url, ip, sockets);
    sameAddress.send(`${state}.live_subscribe`);
    await sameAddress.until(() => refusals(sameAddress).length === 1, 10_000, 'the refusal on a new socket from the same address');
    expect(live.subscriberCount(WATCH_LABEL)).toBe(before + 1);
    const elsewhere = await openSocket(running.url, `${ip}1`, sockets);
    elsewhere.send(`${state}.live_subscribe`);
    await elsewhere.until(() => live.subscriberCount(WATCH_LABEL) === before + 2, 10_000, 'the subscription from another address');
    expect(refusals(elsewhere)).toEqual([]);
  });
});

describe('session cookie changes per client address', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    const stack = createAuthStack();
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: stack.authMiddleware }, rateLimit: { cookieHandoffs: { limit: 3, ttlMs: 60_000 } } })],
      providers: ALL_STATES,
    });
  });
  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running.close();
  });

  it('hands the browser its new session cookie for the first changes, then answers rate_limited: the handoff store is not filled from one address', async () => {
    const tab = new RawSocket(running.url);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    // A login, a logout and a login again: each changes the session cookie, and each is handed over.
    tab.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await tab.untilHandoff(1);
    tab.send(`${ACCOUNT}.logout`);
    await tab.untilHandoff(2);
    tab.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await tab.untilHandoff(3);
    // The fourth change of this address: the event runs (the server's session changes), its cookie is not parked.
    tab.send(`${ACCOUNT}.logout`);
    await tab.until(() => tab.errors.some((error) => error.code === 'rate_limited' && error.event === 'cookie_handoff'), 10_000, 'the refused handoff');
    const refusal = tab.errors.find((error) => error.event === 'cookie_handoff')!;
    expect(refusal.retryAfterMs).toBeGreaterThan(0);
    // Shown to the user too (Reflex's client runs the presenter's toast), as a refused event is.
    const shown = () => tab.updates.flatMap((update) => update.events ?? []).filter((event) => event.payload['bridge_error'] !== undefined);
    await tab.until(() => shown().length > 0, 10_000, 'the refusal shown');
    expect(shown().map((event) => event.payload['bridge_error'])).toEqual([refusal]);
    await tab.untilVar(ACCOUNT, 'seen', 'anonymous');
    expect(tab.handoffs()).toHaveLength(3);
    // Another tab from the same address is counted with it; events that change no cookie go on as before.
    const other = new RawSocket(running.url);
    sockets.push(other);
    await other.connected();
    await other.hydrate();
    other.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await other.until(() => other.errors.some((error) => error.event === 'cookie_handoff'), 10_000, 'the other tab\'s refused handoff');
    expect(other.handoffs()).toHaveLength(0);
    other.send(`${ACCOUNT}.whoami`);
    await other.untilVar(ACCOUNT, 'seen', 'alice');
  });
});

describe("an app's own global ThrottlerGuard", () => {
  it('refuses full-tier events past its limit as rate_limited, with its Retry-After as retryAfterMs', async () => {
    const app = await startApp({
      imports: [ThrottlerModule.forRoot([{ ttl: 60_000, limit: 2 }]), ReflexBridgeModule.forRoot()],
      providers: [OrderState, { provide: APP_GUARD, useClass: ThrottlerGuard }],
    });
    const opened: RawSocket[] = [];
    try {
      const tab = await openSocket(app.url, undefined, opened);
      for (let i = 0; i < 3; i++) tab.send(`${ROOT}.order_state.order`);
      await tab.until(() => tab.latest(`${ROOT}.order_state`, 'orders') === 2 && tab.errors.length === 1);
      expect(tab.errors[0]).toMatchObject({ code: 'rate_limited', status: 429, event: `${ROOT}.order_state.order` });
      expect(tab.errors[0]!.retryAfterMs).toBeGreaterThan(0);
      expect(tab.errors[0]!.retryAfterMs).toBeLessThanOrEqual(60_000);
    } finally {
      for (const socket of opened) socket.close();
      await app.close();
    }
  });
});

describe('the shop: login guessing is limited per client IP, over events and over HTTP', () => {
  let app: INestApplication;
  let url: string;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    // TRUST_PROXY: the bridge reads the client IP from X-Forwarded-For, so a test can come from two addresses.
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', TRUST_PROXY: '1' })), { logger: ['error'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await app.close();
  });

  it('c. ten sockets from one address guessing passwords get rate_limited after 5 attempts in all', async () => {
    const guessers = await Promise.all(Array.from({ length: 10 }, () => openSocket(url, '198.51.100.7', sockets)));
    for (let round = 0; round < 3; round++) {
      for (const [i, socket] of guessers.entries()) socket.send(`${ACCOUNT}.login`, { username: 'demo', password: `guess-${round}-${i}` });
    }
    const refused = () => guessers.reduce((sum, socket) => sum + refusals(socket).length, 0);
    const answered = () => guessers.filter((socket) => socket.latest(ACCOUNT, 'loginError') === 'Unknown user or wrong password.').length;
    // 30 guesses: 5 were checked (each on a different socket, or the same: every answer is the same), 25 refused.
    await eventually(() => refused() === 25 && answered() >= 1, 20_000, () => `25 refusals (got ${refused()})`);
    for (const socket of guessers) {
      for (const refusal of refusals(socket)) {
        expect(refusal.event).toBe(`${ACCOUNT}.login`);
        expect(refusal.retryAfterMs).toBeGreaterThan(0);
        expect(refusal.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
    }
    // Even the right password is refused from that address now...
    const late = await openSocket(url, '198.51.100.7', sockets);
    late.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
    await late.until(() => refusals(late).length === 1);
    expect(late.latest(ACCOUNT, 'isAuthenticated')).toBe(false);
    // ...while the user logs in from their own address.
    const user = await openSocket(url, '198.51.100.8', sockets);
    user.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
    await user.untilVar(ACCOUNT, 'isAuthenticated', true);
    expect(user.errors).toEqual([]);
    expect(refused()).toBe(25);
  }, 60_000);

  it('c. POST /auth/login answers 429 with Retry-After after 5 attempts per minute', async () => {
    const attempt = () =>
      // Another account than the test above guessed at: each account also has its own limit, counted over events and HTTP.
      fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'staff', password: 'nope' }) });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt()).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const refused = await attempt();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Even with the right password, while the block lasts.
    const right = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'staff', password: 'staff123' }) });
    expect(right.status).toBe(429);
  });
});

describeWithRedis('rate limits shared through Redis', () => {
  let server: RedisTestServer;
  beforeAll(async () => {
    server = await RedisTestServer.launch();
  }, 30_000);
  afterAll(async () => {
    await server?.destroy();
  });

  describeRateLimitStorageContract('RedisThrottlerStorage', () => new RedisThrottlerStorage({ url: server.url, keyPrefix: `contract-${Math.random().toString(36).slice(2)}:` }));

  it('d. two app instances with redisUrl count against the same limits: hits on A count on B', async () => {
    const [a, b] = [await startGuessApp({ redisUrl: server.url }), await startGuessApp({ redisUrl: server.url })];
    const sockets: RawSocket[] = [];
    const raw = createClient({ url: server.url });
    raw.on('error', () => undefined);
    try {
      const onA = await openSocket(a.url, '192.0.2.10', sockets);
      onA.send(`${GUESS}.guessSlowly`);
      onA.send(`${GUESS}.guessSlowly`);
      await onA.untilVar(GUESS, 'slowGuesses', 2);
      const onB = await openSocket(b.url, '192.0.2.10', sockets);
      onB.send(`${GUESS}.guessSlowly`);
      onB.send(`${GUESS}.guessSlowly`);
      await onB.until(() => count(onB, 'slowGuesses') === 1 && refusals(onB).length === 1);
      expect(refusals(onB)[0]).toMatchObject({ code: 'rate_limited', event: `${GUESS}.guessSlowly` });
      expect(refusals(onB)[0].retryAfterMs).toBeLessThanOrEqual(60_000);
      // And back on A, the shared counter refuses too; another address is still free on both.
      onA.send(`${GUESS}.guessSlowly`);
      await onA.until(() => refusals(onA).length === 1);
      const elsewhere = await openSocket(b.url, '192.0.2.11', sockets);
      elsewhere.send(`${GUESS}.guessSlowly`);
      await elsewhere.untilVar(GUESS, 'slowGuesses', 1);

      // The counter, as documented: <prefix><throttler name>:<state.handler>@<client IP>, expiring with its window.
      await raw.connect();
      const ttl = await raw.pTTL(`rx:throttle:default:${GUESS}.guessSlowly@192.0.2.10`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      for (const socket of sockets) socket.close();
      await raw.close().catch(() => undefined);
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});

/**
 * What a Reflex-compiled frontend gets from us besides state: the HTTP routes its env.json points at (ping,
 * health), the frames state.js sends from window.onerror, the `router` var it reads, and the `_redirect` events it
 * applies. Written at the wire level: the exact frames state.js sends (see its `ReflexEvent`, `window.onerror`,
 * `applyEvent`), and raw HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Injectable, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createClient } from 'redis';
import { DataSource } from 'typeorm';
import type { NextFunction, Request, Response } from 'express';
import { EventHandler, PostgresTransport, RedisStateStore, RedisTransport, ReflexBridgeModule, State, redirect, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { SilencingProxy } from './support/silencing-proxy.js';
import { RedisTestServer, describeWithRedis } from './support/redis-server.js';
import { PostgresTestServer, describeWithPostgres } from './support/postgres-server.js';
import { PgStatementCounter } from './support/pg-statement-counter.js';

const ROOT = 'reflex___state____state';
const FRONTEND_EXCEPTION = `${ROOT}.reflex___state____frontend_event_exception_state.handle_frontend_exception`;
const NAV = `${ROOT}.nav_state`;
const FRONTEND = 'http://localhost:3000';
const FOREIGN = 'http://evil.example';

@State()
@Injectable()
class NavState {
  visits = 0;

  @EventHandler()
  checkout(): unknown {
    this.visits++;
    return redirect('/checkout');
  }

  @EventHandler()
  docs(): unknown {
    return redirect('https://docs.example/guide', { external: true, popup: true });
  }

  @EventHandler()
  replaceWith(): unknown {
    return redirect('/cart?step=2#pay', { replace: true });
  }

  /** Reached only when the middleware let the event through. */
  @EventHandler()
  members(): void {
    this.visits++;
  }
}

/** The app's auth middleware: pages under /members redirect as an Express app does, absolutely or elsewhere. */
function membersOnly(req: Request, res: Response, next: NextFunction): void {
  if (req.path === '/members/abs') return res.redirect(302, `http://${req.headers.host}/login?next=/members`);
  if (req.path === '/members/sso') return res.redirect(302, 'https://sso.example/authorize?client=shop');
  if (req.path === '/members/js') return res.redirect(302, 'javascript:alert(document.cookie)');
  if (req.path === '/members/rel') return res.redirect(302, 'login');
  next();
}

const json = async (url: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: await response.json() as unknown, type: response.headers.get('content-type') };
};

async function until(predicate: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The app's /_health once it answered 200. The tests whose checks have a 100 ms limit read their healthy answer this
 * way: one probe right after the start or a thaw may miss that limit on a loaded machine, so it proves nothing.
 */
async function healthyAnswer(url: string): Promise<Awaited<ReturnType<typeof json>>> {
  let answer: Awaited<ReturnType<typeof json>> | undefined;
  await until(async () => (answer = await json(`${url}/_health`)).status === 200, `${url}/_health to answer 200`);
  return answer!;
}

describe('Reflex routes, frontend exceptions, the router var and redirects (in memory)', () => {
  let running: RunningApp;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];
  const open = async (headers: Record<string, string> = {}) => {
    const socket = new RawSocket(running.url, randomUUID(), { headers });
    sockets.push(socket);
    await socket.connected();
    return socket;
  };

  beforeAll(async () => {
    const options: ReflexBridgeModuleOptions = { corsOrigins: [FRONTEND], bridge: { mode: 'full', authMiddleware: [membersOnly], withheldHeaders: ['X-Origin-Verify'] } };
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [NavState] }, undefined, logger);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  describe('GET /ping and /_health', () => {
    it('answers /ping with the JSON string "pong", as Reflex', async () => {
      const ping = await json(`${running.url}/ping`);
      expect(ping).toMatchObject({ status: 200, body: 'pong' });
      expect(ping.type).toMatch(/^application\/json/);
      expect(ping.headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('answers /_health with {"status": true} when nothing it uses is external (no db, no redis keys)', async () => {
      const health = await json(`${running.url}/_health`);
      expect(health).toMatchObject({ status: 200, body: { status: true } });
      expect([health.headers.get('x-content-type-options'), health.headers.get('cache-control')]).toEqual(['nosniff', 'no-store']);
    });

    it('gives a listed frontend origin CORS headers with credentials, and refuses another site', async () => {
      const allowed = await json(`${running.url}/_health`, { origin: FRONTEND, 'sec-fetch-site': 'same-site' });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(FRONTEND);
      expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
      const refused = await json(`${running.url}/ping`, { origin: FOREIGN, 'sec-fetch-site': 'cross-site' });
      expect(refused).toMatchObject({ status: 403, body: { code: 'origin_not_allowed' } });
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    });
  });

  describe('handle_frontend_exception', () => {
    it('accepts the frame state.js sends from window.onerror, logs it, and answers nothing', async () => {
      const tab = await open({ origin: FRONTEND });
      // state.js: ReflexEvent(`${exception_state_name}.handle_frontend_exception`, {info, component_stack: ""}).
      tab.socket.emit('event', { name: FRONTEND_EXCEPTION, payload: { info: 'TypeError: x is undefined\nat App (app.js:3:9)', component_stack: '' }, router_data: { pathname: '/', asPath: '/' } });
      await until(() => logger.lines.some((line) => line.message.includes('TypeError: x is undefined')), 'the log line');
      const line = logger.lines.find((entry) => entry.message.includes('TypeError: x is undefined'))!;
      expect(line.level).toBe('error');
      expect(line.message).toContain('[Reflex Frontend Exception]');
      expect(line.message).toContain('TypeError: x is undefined\\nat App (app.js:3:9)');
      // An event after it is answered normally, and nothing was sent for the report.
      tab.send(`${NAV}.checkout`);
      await tab.until(() => tab.updates.some((update) => update.events?.length));
      expect(tab.errors).toEqual([]);
    });

    it('caps reports per connection and in size, and survives hostile payloads', async () => {
      const tab = await open();
      const before = logger.lines.length;
      const hostile: unknown[] = [
        { info: 'x'.repeat(200_000), component_stack: 'y'.repeat(50_000) },
        { info: { toString: 'not a function' } },
        { info: ['a', 'b'], component_stack: 42 },
        { __proto__: { info: 'inherited' } },
        null,
        'just a string',
        { info: 'fifth object' },
        { info: 'sixth: over the per-connection limit' },
      ];
      for (const payload of hostile) tab.socket.emit('event', { name: FRONTEND_EXCEPTION, payload, router_data: {} });
      tab.send(`${NAV}.checkout`);
      await tab.until(() => tab.updates.some((update) => update.events?.length));
      const lines = logger.lines.slice(before).filter((line) => line.message.includes('[Reflex Frontend Exception]'));
      // Payloads that are not objects are refused by the envelope check; the object ones are logged up to 5.
      expect(lines.length).toBeLessThanOrEqual(5);
      expect(lines.some((line) => line.message.includes('sixth'))).toBe(false);
      for (const line of lines) expect(line.message.length).toBeLessThan(7_000);
      expect(lines[0]!.message).toContain('more characters');
      expect(tab.errors.every((error) => error.code === 'invalid_payload')).toBe(true);
    });
  });

  describe('the router var', () => {
    it("carries Reflex's RouterData: the frontend's origin as host, url, route_id, full_raw_path, no cookie", async () => {
      const tab = await open({ origin: FRONTEND, cookie: 'session=secret-cookie', 'user-agent': 'Chromium-test' });
      tab.send(`${ROOT}.hydrate`, {}, { pathname: '/product/[id]', asPath: '/product/7?ref=home#reviews', query: { id: '7', ref: 'home' } });
      await tab.until(() => tab.updates.length > 0);
      const router = tab.updates[0]!.delta![ROOT]!['router_rx_state_'] as Record<string, Record<string, unknown>>;
      expect(Object.keys(router)).toEqual(['session', 'headers', 'page', 'url', 'route_id']);
      expect(router.session).toEqual({ client_token: tab.token, client_ip: '127.0.0.1', session_id: tab.socket.id });
      expect(router.page).toEqual({
        host: FRONTEND,
        path: '/product/[id]',
        raw_path: '/product/7?ref=home#reviews',
        full_path: `${FRONTEND}/product/[id]`,
        full_raw_path: `${FRONTEND}/product/7?ref=home#reviews`,
        params: { id: '7', ref: 'home' },
      });
      expect(router.url).toEqual({
        scheme: 'http',
        netloc: 'localhost:3000',
        origin: FRONTEND,
        path: '/product/7',
        query: 'ref=home',
        query_parameters: { ref: 'home' },
        fragment: 'reviews',
        href: `${FRONTEND}/product/7?ref=home#reviews`,
      });
      expect(router.route_id).toBe('/product/[id]');
      expect(router.headers).toMatchObject({ origin: FRONTEND, user_agent: 'Chromium-test', cookie: '' });
      expect(JSON.stringify(router)).not.toContain('secret-cookie');
    });

    it('keeps out of the router var what a proxy adds for the server: credentials, the address chain, the app\'s withheldHeaders', async () => {
      const tab = await open({
        origin: FRONTEND,
        'x-forwarded-access-token': 'secret-access-token',
        'cf-access-jwt-assertion': 'secret-jwt',
        'x-forwarded-for': '203.0.113.9',
        'x-origin-verify': 'secret-cdn',
        'x-tenant': 'acme',
      });
      tab.send(`${ROOT}.hydrate`, {}, { pathname: '/', asPath: '/' });
      await tab.until(() => tab.updates.length > 0);
      const router = tab.updates[0]!.delta![ROOT]!['router_rx_state_'] as { headers: { raw_headers: Record<string, string> } };
      expect(JSON.stringify(router)).not.toMatch(/secret|203\.0\.113\.9/);
      expect(router.headers.raw_headers).toMatchObject({ origin: FRONTEND, 'x-tenant': 'acme' });
    });
  });

  describe('redirects, as state.js applyEvent reads `_redirect`', () => {
    const redirectOf = async (tab: RawSocket, handler: string, pathname = '/') => {
      const before = tab.updates.length;
      const errorsBefore = tab.errors.length;
      tab.send(`${NAV}.${handler}`, {}, { pathname, asPath: pathname });
      // Only the redirect frames: a refusal also sends the events that show the error (a toast), never a `_redirect`.
      const redirects = () => tab.updates.slice(before).find((update) => update.events?.some((event) => event.name === '_redirect'))?.events;
      await tab.until(() => redirects() !== undefined || tab.errors.length > errorsBefore);
      return redirects();
    };

    it('sends a handler redirect with the exact payload: path, external, popup, replace', async () => {
      const tab = await open({ origin: FRONTEND });
      expect(await redirectOf(tab, 'checkout')).toEqual([{ name: '_redirect', payload: { path: '/checkout', external: false, popup: false, replace: false } }]);
      expect(await redirectOf(tab, 'docs')).toEqual([{ name: '_redirect', payload: { path: 'https://docs.example/guide', external: true, popup: true, replace: false } }]);
      expect(await redirectOf(tab, 'replaceWith')).toEqual([{ name: '_redirect', payload: { path: '/cart?step=2#pay', external: false, popup: false, replace: true } }]);
    });

    it("turns a middleware redirect to the backend's own URL into an in-app path, replacing history", async () => {
      const tab = await open({ origin: FRONTEND });
      expect(await redirectOf(tab, 'members', '/members/abs')).toEqual([{ name: '_redirect', payload: { path: '/login?next=/members', external: false, popup: false, replace: true } }]);
      expect(await redirectOf(tab, 'members', '/members/rel')).toEqual([{ name: '_redirect', payload: { path: '/members/login', external: false, popup: false, replace: true } }]);
      expect(tab.latest(NAV, 'visits')).toBeUndefined();
    });

    it('keeps a redirect to another site absolute (same tab, state.js assigns it) and refuses a javascript: one', async () => {
      const tab = await open({ origin: FRONTEND });
      expect(await redirectOf(tab, 'members', '/members/sso')).toEqual([{ name: '_redirect', payload: { path: 'https://sso.example/authorize?client=shop', external: false, popup: false, replace: true } }]);
      expect(await redirectOf(tab, 'members', '/members/js')).toBeUndefined();
      expect(tab.errors.at(-1)).toMatchObject({ code: 'handler_error', event: `${NAV}.members` });
    });
  });
});

describe('Reflex routes: options', () => {
  it('follows the event path prefix, moves or turns routes off', async () => {
    const prefixed = await startApp({ imports: [ReflexBridgeModule.forRoot({ path: '/api/_event' })] });
    const moved = await startApp({ imports: [ReflexBridgeModule.forRoot({ reflexRoutes: { ping: '/healthz/ping', health: false } })] });
    const off = await startApp({ imports: [ReflexBridgeModule.forRoot({ reflexRoutes: false })] });
    try {
      expect(await json(`${prefixed.url}/api/ping`)).toMatchObject({ status: 200, body: 'pong' });
      expect(await json(`${prefixed.url}/api/_health`)).toMatchObject({ status: 200, body: { status: true } });
      expect((await fetch(`${prefixed.url}/ping`)).status).toBe(404);
      expect(await json(`${moved.url}/healthz/ping`)).toMatchObject({ status: 200, body: 'pong' });
      expect((await fetch(`${moved.url}/_health`)).status).toBe(404);
      expect((await fetch(`${off.url}/ping`)).status).toBe(404);
      expect((await fetch(`${off.url}/_health`)).status).toBe(404);
    } finally {
      await Promise.all([prefixed.close(), moved.close(), off.close()]);
    }
  });
});

describeWithRedis('/_health with Redis', () => {
  let redis: RedisTestServer;
  let running: RunningApp;
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [NavState] }, undefined, new CapturingLogger());
  });
  afterAll(async () => {
    await running?.close();
    await redis?.destroy();
  });

  it('reports redis, goes 503 when Redis stops and back to 200 when it returns', async () => {
    expect(await json(`${running.url}/_health`)).toEqual(expect.objectContaining({ status: 200, body: { status: true, redis: true } }));
    await redis.stop();
    await until(async () => (await fetch(`${running.url}/_health`)).status === 503, '503 with Redis stopped');
    expect(await json(`${running.url}/_health`)).toMatchObject({ status: 503, body: { status: false, redis: false } });
    await redis.start();
    await until(async () => (await fetch(`${running.url}/_health`)).status === 200, '200 with Redis back');
    expect(await json(`${running.url}/_health`)).toMatchObject({ status: 200, body: { status: true, redis: true } });
  });

  it("answers 503 when the worker's subscriber connection no longer delivers, though Redis answers its commands", async () => {
    // A path that drops the subscriber's packets only (a NAT or firewall that forgot that idle flow): the connection
    // stays open at both ends, commands still work, and this worker hears no broadcast, live update or news.
    const proxy = await SilencingProxy.launch(redis.port);
    const app = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: `redis://127.0.0.1:${proxy.port}`, reflexRoutes: { checkTimeoutMs: 500, checkIntervalMs: 0 } })] }, undefined, new CapturingLogger());
    try {
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, 'a healthy answer');
      // The command connection first, the subscriber (opened on first use) second.
      expect(proxy.connections).toBe(2);
      proxy.silence(1);
      // Before: 200 {"status":true,"redis":true} for as long as the subscriber stayed silent.
      await until(async () => (await fetch(`${app.url}/_health`)).status === 503, '503 with the subscriber silenced');
      expect(await json(`${app.url}/_health`)).toMatchObject({ status: 503, body: { status: false, redis: false } });
      // Before: 503 until the kernel gave up on the connection (minutes). The worker now replaces the silent subscriber
      // by itself (within twice subscriberCheckIntervalMs, 5 s), nobody resetting anything.
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, '200 once the worker replaced its subscriber', 30_000);
      expect(proxy.connections).toBeGreaterThan(2);
    } finally {
      await app.close();
      await proxy.destroy();
    }
  }, 60_000);

  it('logs a failing check once per outage, not once per probe: /_health is public and a stopped Redis fails fast', async () => {
    const logger = new CapturingLogger();
    // Every request runs the checks (no reuse of the last answer), as a hostile client spacing its requests gets.
    const app = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url, reflexRoutes: { checkIntervalMs: 0 } })] }, undefined, logger);
    const healthLines = () => logger.lines.filter((line) => line.level !== 'debug' && line.level !== 'verbose' && /health check/i.test(line.message));
    try {
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, 'the store connected');
      await redis.stop();
      // Both Redis checks down (each connection notices the stop on its own): the outage's error line names both.
      const bothDown = () => healthLines().some((line) => line.level === 'error' && line.message.includes('state_store') && line.message.includes('live_transport'));
      await until(async () => (await fetch(`${app.url}/_health`)).status === 503 && bothDown(), 'an error line naming both failing checks');
      const start = healthLines().length;
      // An anonymous client hammering the route during the outage: each request runs (and fails) the checks.
      for (let probe = 0; probe < 50; probe++) expect((await fetch(`${app.url}/_health`)).status).toBe(503);
      // Before: one 'Health Check has failed! {...}' error line per request (50 more).
      expect(healthLines().slice(start)).toEqual([]);
      await redis.start();
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, '200 with Redis back');
      expect(healthLines().at(-1)).toMatchObject({ level: 'log', message: expect.stringMatching(/pass again/) });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('runs the checks at most once per checkIntervalMs however often a client requests the route, one at a time', async () => {
    const raw = createClient({ url: redis.url });
    await raw.connect();
    const reads = async () => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    try {
      await until(async () => (await fetch(`${running.url}/_health`)).status === 200, 'a healthy answer');
      const before = await reads();
      const from = Date.now();
      for (let request = 0; request < 100; request++) expect((await fetch(`${running.url}/_health`)).status).toBe(200);
      const elapsedMs = Date.now() - from;
      // Before: one state store read per request (100; measured 1000 for 1000 sequential requests). Now one per
      // second (the default checkIntervalMs), whatever the pace: the bound follows the time the requests took (a
      // loaded machine may take over 10 s for 100), with one check of slack for the window the loop began in.
      expect((await reads()) - before).toBeLessThanOrEqual(Math.floor(elapsedMs / 1000) + 2);
    } finally {
      await raw.quit();
    }
  });

  it('answers 503 at each probe while Redis is frozen, leaving one unanswered probe read behind, not one per probe', async () => {
    // The store's own reads give up after 20 ms, well before the freeze ends: the probe must outlast that too.
    const store = new RedisStateStore({ url: redis.url, commandTimeoutMs: 20 });
    const frozenApp = await startApp({ imports: [ReflexBridgeModule.forRoot({ stateStore: store, reflexRoutes: { checkTimeoutMs: 100, checkIntervalMs: 0 } })] }, undefined, new CapturingLogger());
    const raw = createClient({ url: redis.url });
    await raw.connect();
    const reads = async () => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    try {
      await until(async () => (await fetch(`${frozenApp.url}/_health`)).status === 200, 'the store connected');
      const before = await reads();
      redis.pause();
      try {
        // A load balancer probing through the freeze: every probe is answered, 503, once its check timed out.
        for (let probe = 0; probe < 20; probe++) {
          expect(await json(`${frozenApp.url}/_health`)).toMatchObject({ status: 503, body: { status: false, redis: false } });
        }
      } finally {
        redis.resume();
      }
      // Probes after the thaw; the first 200 was read after everything queued before it on the same connection.
      let probesAfter = 0;
      await until(async () => {
        probesAfter++;
        return (await fetch(`${frozenApp.url}/_health`)).status === 200;
      }, '200 with Redis thawed');
      // Before: each of the 20 probes left its read waiting in the connection's queue, replayed on the thaw (20 + 1).
      expect((await reads()) - before).toBeLessThanOrEqual(probesAfter + 1);
    } finally {
      await raw.quit();
      await frozenApp.close();
      await store.close();
    }
  }, 60_000);

  it('answers 503 while Redis is frozen when only the live transport uses it, leaving one unanswered PING behind', async () => {
    // No Redis state store: the live transport is the only check that reaches Redis. A Redis of its own: the PINGs
    // counted below are the health checks' only (the shared one also gets this file's other app's connection checks,
    // a PING per connection every 5 s, which a slow run counted as probes' PINGs).
    const own = await RedisTestServer.launch();
    const transport = new RedisTransport({ url: own.url, channel: `health-${randomUUID()}` });
    const app = await startApp({ imports: [ReflexBridgeModule.forRoot({ live: { transport }, reflexRoutes: { checkTimeoutMs: 100, checkIntervalMs: 0 } })] }, undefined, new CapturingLogger());
    const raw = createClient({ url: own.url });
    await raw.connect();
    const pings = async () => Number(/cmdstat_ping:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    try {
      expect(await healthyAnswer(app.url)).toMatchObject({ status: 200, body: { status: true, redis: true } });
      const before = await pings();
      own.pause();
      try {
        // Before: 200 {redis: true} at every probe, the connection's state unchanged by the freeze.
        for (let probe = 0; probe < 20; probe++) {
          expect(await json(`${app.url}/_health`)).toMatchObject({ status: 503, body: { status: false, redis: false } });
        }
      } finally {
        own.resume();
      }
      let probesAfter = 0;
      await until(async () => {
        probesAfter++;
        return (await fetch(`${app.url}/_health`)).status === 200;
      }, '200 with Redis thawed');
      // One PING waited through the freeze, not one per probe.
      expect((await pings()) - before).toBeLessThanOrEqual(probesAfter + 1);
    } finally {
      own.resume();
      await raw.quit();
      await app.close();
      await own.destroy();
    }
  }, 60_000);
});

describeWithPostgres('/_health with a TypeORM DataSource on Postgres', () => {
  let server: PostgresTestServer;
  beforeAll(async () => {
    server = await PostgresTestServer.launch();
  }, 120_000);
  afterAll(async () => {
    await server?.destroy();
  }, 60_000);

  it('answers 503 at each probe while Postgres is frozen, holding one pooled connection, not one per probe', async () => {
    const dataSource = await new DataSource({ type: 'postgres', url: server.connectionString, extra: { max: 10 } }).initialize();
    const app = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ reflexRoutes: { checkTimeoutMs: 100, checkIntervalMs: 0 } })], providers: [{ provide: DataSource, useValue: dataSource }] },
      undefined,
      new CapturingLogger(),
    );
    const pool = (dataSource.driver as unknown as { master: { totalCount: number; idleCount: number; waitingCount: number } }).master;
    try {
      expect(await healthyAnswer(app.url)).toMatchObject({ status: 200, body: { status: true, db: true } });
      server.pause();
      let held: number;
      try {
        for (let probe = 0; probe < 20; probe++) {
          expect(await json(`${app.url}/_health`)).toMatchObject({ status: 503, body: { status: false, db: false } });
        }
        // Before: each probe's SELECT 1 kept its pooled connection (all 10), and the next 10 waited for one.
        held = pool.totalCount - pool.idleCount + pool.waitingCount;
      } finally {
        server.resume();
      }
      expect(held).toBeLessThanOrEqual(1);
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, '200 with Postgres thawed');
    } finally {
      await app.close();
      await dataSource.destroy();
    }
  }, 60_000);

  it('answers 503 while Postgres is frozen when only the live transport uses it, one SELECT 1 waiting, 200 after the thaw', async () => {
    // No DataSource: the LISTEN/NOTIFY transport is the only check that reaches Postgres. Its statements are counted
    // on the wire (a proxy reading the protocol's framing), as the server would receive them after the thaw.
    const wire = await PgStatementCounter.launch(server.port);
    const transport = new PostgresTransport({ connectionString: wire.through(server.connectionString), channel: 'health_frozen_pg' });
    const app = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ live: { transport }, reflexRoutes: { checkTimeoutMs: 100, checkIntervalMs: 0 } })] },
      undefined,
      new CapturingLogger(),
    );
    try {
      expect(await healthyAnswer(app.url)).toMatchObject({ status: 200, body: { status: true, db: true } });
      const before = wire.count('SELECT 1');
      expect(before).toBeGreaterThan(0); // the first check's, seen on the wire
      // The checks the health route asks of the transport (its public ping): pg's client sends one statement at a
      // time, so the wire alone would not show pings queued behind the unanswered one.
      let pings = 0;
      const ping = transport.ping.bind(transport);
      transport.ping = () => {
        pings++;
        return ping();
      };
      server.pause();
      let held: number;
      try {
        // Before: 200 {db: true} at every probe until the transport's own heartbeat noticed (30 s by default).
        for (let probe = 0; probe < 20; probe++) {
          expect(await json(`${app.url}/_health`)).toMatchObject({ status: 503, body: { status: false, db: false } });
        }
        held = wire.count('SELECT 1') - before;
      } finally {
        server.resume();
      }
      // One SELECT 1 waited through the freeze, not one per probe: one sent to Postgres, one asked for.
      expect(held).toBeLessThanOrEqual(1);
      expect(pings).toBeLessThanOrEqual(1);
      await until(async () => (await fetch(`${app.url}/_health`)).status === 200, '200 with Postgres thawed');
      expect(await healthyAnswer(app.url)).toMatchObject({ status: 200, body: { status: true, db: true } });
    } finally {
      await app.close();
      await wire.destroy();
    }
  }, 60_000);
});

describe('the shop with FRONTEND_ORIGINS', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', FRONTEND_ORIGINS: `${FRONTEND}, https://ui.example` })), { logger: ['error'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
  });

  it('gives a listed frontend CORS with credentials on the routes it calls, and nothing to another site', async () => {
    const login = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { origin: FRONTEND, 'sec-fetch-site': 'same-site', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=demo&password=demo123',
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(login.headers.get('access-control-allow-credentials')).toBe('true');
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;

    const me = await json(`${url}/auth/me`, { origin: FRONTEND, cookie });
    expect(me).toMatchObject({ status: 200, body: { user: 'demo' } });
    expect(me.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(me.headers.get('access-control-allow-credentials')).toBe('true');

    for (const path of ['/ping', '/_health']) {
      const route = await json(`${url}${path}`, { origin: FRONTEND });
      expect(route.status).toBe(200);
      expect(route.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    }

    const preflight = await fetch(`${url}/auth/logout`, { method: 'OPTIONS', headers: { origin: FRONTEND, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');

    // Another site: no CORS grant (the browser hides the answers), and its state-changing requests are refused.
    const foreignMe = await fetch(`${url}/auth/me`, { headers: { origin: FOREIGN, cookie } });
    expect(foreignMe.headers.get('access-control-allow-origin')).toBeNull();
    const foreignLogout = await fetch(`${url}/auth/logout`, { method: 'POST', headers: { origin: FOREIGN, 'sec-fetch-site': 'cross-site', cookie } });
    expect(foreignLogout.status).toBe(403);
    expect(foreignLogout.headers.get('access-control-allow-origin')).toBeNull();
    const foreignPreflight = await fetch(`${url}/auth/logout`, { method: 'OPTIONS', headers: { origin: FOREIGN, 'access-control-request-method': 'POST' } });
    expect(foreignPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('opens the event socket for a listed frontend and refuses another site', async () => {
    const allowed = new RawSocket(url, randomUUID(), { headers: { origin: FRONTEND } });
    await allowed.connected();
    allowed.close();
    const refused = new RawSocket(url, randomUUID(), { headers: { origin: FOREIGN } });
    await expect(refused.connected()).rejects.toBeDefined();
    refused.close();
  });
});

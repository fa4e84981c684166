/**
 * Devtools as a developer uses them: the shop with DEVTOOLS=1 (full tier with its session and passport middleware,
 * the cart's LoggedInGuard, TypeORM queries on SQLite, the likes on `none`), an `auth_only` app with fast auth (hit
 * and miss), the JSON routes, the tier advisor, refusals (production, a foreign Origin), and the buffer staying at
 * its maximum under 100,000 events.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { get as httpGet } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { Module, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { BridgeDevtools, BridgeTier, currentRequest, EventHandler, ReflexBridgeModule, State, type EventInspection, type TierAdvice } from '@reflex-bridge/nest';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import type { EventClient } from '../libs/reflex-bridge/src/common/event-client.js';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { Registry } from 'prom-client';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers } from './fixtures/cached-auth-app.js';

const ROOT = 'reflex___state____state';
const LIKES = `${ROOT}.likes_state`;
const CART = `${ROOT}.cart_state`;
const ACCOUNT = `${ROOT}.account_state`;

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as T };
}

async function eventsOf(base: string, query = ''): Promise<EventInspection[]> {
  return (await getJson<{ events: EventInspection[] }>(`${base}/_bridge/devtools/events${query}`)).body.events;
}

describe('devtools on the shop (DEVTOOLS=1)', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', DEVTOOLS: '1' })), { logger: ['error'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('records full-tier events with their middleware, guard, queries, user and session hash, and none-tier events bare', async () => {
    const tab = new RawSocket(base);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${LIKES}.like`);
    tab.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
    await tab.untilVar(ACCOUNT, 'isAuthenticated', true, 20_000);
    tab.send(`${CART}.add`, { productId: 1 });
    await tab.until(() => ((tab.latest(CART, 'lines') as unknown[] | undefined) ?? []).length === 1, 20_000, 'the cart line');

    const add = await until(async () => (await eventsOf(base, `?handler=cart_state.add&token=${tab.token}`))[0], 'the cart event');
    expect(add).toMatchObject({ handler: `${CART}.add`, tier: 'full', tierReason: 'bridge.mode "full"', authenticated: true, user: 'demo', path: '/', token: tab.token });
    // The shop's auth chain by name, and the cart's guard by class name, each with its own time.
    const middleware = add.phases.filter((step) => step.phase === 'middleware' && step.name !== 'middleware').map((step) => step.name);
    expect(middleware).toEqual(['session', 'initialize', 'authenticate']);
    expect(add.enhancers?.guards).toEqual(['LoggedInGuard']);
    expect(add.phases.some((step) => step.phase === 'guards' && step.name === 'LoggedInGuard')).toBe(true);
    expect(add.phases.some((step) => step.phase === 'handler')).toBe(true);
    // Its real TypeORM query (the product lookup), counted, timed and shown.
    expect(add.queryCount).toBeGreaterThanOrEqual(1);
    expect(add.queries[0].sql).toMatch(/SELECT/i);
    expect(add.queries[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(add.sessionHash).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(add)).not.toContain(add.sessionHash === undefined ? 'x' : 'shop.sid=');
    expect(add.deltaBytes).toBeGreaterThan(0);
    expect(add.durationMs).toBeGreaterThan(0);

    const like = (await eventsOf(base, '?tier=none'))[0];
    expect(like).toMatchObject({ handler: `${LIKES}.like`, tier: 'none', tierReason: '@BridgeTier on the class', queryCount: 0, authenticated: false });
    expect(like.phases.some((step) => step.phase === 'middleware')).toBe(false);

    // One event by id; the token's state tree; newest first.
    const one = await getJson<EventInspection>(`${base}/_bridge/devtools/events/${add.id}`);
    expect(one.status).toBe(200);
    expect(one.body.handler).toBe(`${CART}.add`);
    expect((await getJson(`${base}/_bridge/devtools/events/999999`)).status).toBe(404);
    const state = await getJson<{ state: Record<string, Record<string, unknown>> }>(`${base}/_bridge/devtools/state/${tab.token}`);
    expect(state.status).toBe(200);
    // The stored state: the cart's lines are its backend var (`lines` is computed from them and the auth snapshot).
    expect((state.body.state[CART]['_lines'] as unknown[]).length).toBe(1);
    const all = await eventsOf(base);
    expect(all.map((event) => event.id)).toEqual([...all.map((event) => event.id)].sort((a, b) => b - a));
    tab.close();
  });

  it('refuses a foreign Origin on every devtools route', async () => {
    for (const path of ['', '/events', '/advice', '/overlay.js', '/stream']) {
      const response = await fetch(`${base}/_bridge/devtools${path}`, { headers: { origin: 'https://evil.example' } });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { code: string }).code).toBe('origin_not_allowed');
    }
    // The page's own origin is fine.
    expect((await fetch(`${base}/_bridge/devtools/events`, { headers: { origin: base } })).status).toBe(200);
  });

  it('refuses a request addressed to a domain name, as after DNS rebinding, even when its Origin matches it', async () => {
    // A site that pointed its own name at this machine: the browser sends that name as Host and as Origin.
    const rebound = (path: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(`${base}/_bridge/devtools${path}`);
        const request = httpGet({ host: url.hostname, port: url.port, path: url.pathname, headers: { host, origin: `http://${host}` } }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on('error', reject);
      });
    const port = new URL(base).port;
    for (const path of ['', '/events', `/state/${randomUUID()}`, '/stream']) {
      const answer = await rebound(path, `attacker.example:${port}`);
      expect([path, answer.status, (JSON.parse(answer.body) as { code: string }).code]).toEqual([path, 403, 'host_not_allowed']);
    }
    expect((await rebound('/events', `localhost:${port}`)).status).toBe(200);
  });

  it('serves the page and the overlay script', async () => {
    const page = await fetch(`${base}/_bridge/devtools`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const overlay = await fetch(`${base}/_bridge/devtools/overlay.js`);
    expect(overlay.headers.get('content-type')).toContain('javascript');
  });
});

@State()
class AdvisedState {
  n = 0;

  /** Pays for `full` and never reads the request: the advisor says it could be `none`. */
  @EventHandler()
  @BridgeTier('full')
  bump(): void {
    this.n++;
  }

  /** Asks for the request on `none`: the advisor says it needs a bridged tier. */
  @EventHandler()
  @BridgeTier('none')
  whoIsThere(): void {
    currentRequest();
  }
}

@Module({ providers: [AdvisedState] })
class AdvisedModule {}

describe('devtools: auth_only with fast auth, the advisor, production', () => {
  const { start, connect, whoami, closeAll } = cachedAuthHarness();
  afterAll(closeAll);

  it('records auth_only events with fast-auth miss, then hit', async () => {
    resetCachedUsers();
    const app = await start({ bridge: { devtools: true } });
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const socket = await connect(app, cookie);
    expect(await whoami(socket, '/first')).toBe('carol');
    const devtools = app.app.get(BridgeDevtools);
    // Recorded once the event ended (after the session is saved): wait for it.
    const first = await until(() => devtools.recent({ handler: 'whoami' })[0], 'the first whoami');
    expect(first).toMatchObject({ tier: 'auth_only', tierReason: '@BridgeTier on the class', fastAuth: 'miss', user: 'carol', authenticated: true, path: '/first' });
    expect(first.cache).toEqual({ hits: 0, misses: 1 });
    expect(first.phases.filter((step) => step.phase === 'middleware' && step.name !== 'middleware').map((step) => step.name)).toEqual(['counted', 'initialize', 'authenticate']);
    // Once the snapshot is written, the next event takes the fast path: no middleware at all.
    const hit = await until(async () => {
      await whoami(socket, '/again');
      return devtools.recent({ handler: 'whoami' }).find((event) => event.fastAuth === 'hit');
    }, 'a fast-auth hit');
    expect(hit.cache.hits).toBe(1);
    expect(hit.phases.some((step) => step.phase === 'fast_auth')).toBe(true);
    expect(hit.phases.some((step) => step.phase === 'middleware')).toBe(false);
    expect(hit.sessionHash).toBe(first.sessionHash);
    expect(JSON.stringify(devtools.recent())).not.toContain(decodeURIComponent(cookie.split('=')[1]).slice(2, 34));
  });

  it('advises: a full handler that never reads the request could be none, a none handler that asks needs more', async () => {
    const running: RunningApp = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: true }), AdvisedModule] });
    try {
      const socket = new RawSocket(running.url);
      await socket.connected();
      await socket.hydrate();
      const name = `${ROOT}.advised_state`;
      for (let i = 1; i <= 3; i++) socket.send(`${name}.bump`);
      await socket.untilVar(name, 'n', 3);
      socket.send(`${name}.whoIsThere`);
      await socket.until(() => socket.errors.length > 0, 20_000, 'the NoRequestError');
      const { body } = await until(async () => {
        const answer = await getJson<{ advice: TierAdvice[] }>(`${running.url}/_bridge/devtools/advice`);
        return answer.body.advice.length === 2 ? answer : undefined;
      }, 'two findings');
      const bump = body.advice.find((item) => item.handler === `${name}.bump`);
      expect(bump).toMatchObject({ kind: 'could_be_none', tier: 'full', events: 3 });
      expect(bump!.savingMs).toBeGreaterThanOrEqual(0);
      expect(body.advice.find((item) => item.handler === `${name}.whoIsThere`)).toMatchObject({ kind: 'needs_request', tier: 'none' });
      const failed = running.app.get(BridgeDevtools).recent({ handler: 'whoIsThere' })[0];
      expect(failed.error).toMatchObject({ name: 'NoRequestError' });
      socket.close();
    } finally {
      await running.close();
    }
  });

  it('serves the registry to Prometheus at metrics.path, and the bridge histograms to the devtools page', async () => {
    const registry = new Registry();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: true, metrics: { registry, path: '/metrics', log: false } }), AdvisedModule] });
    try {
      const socket = new RawSocket(running.url);
      await socket.connected();
      await socket.hydrate();
      socket.send(`${ROOT}.advised_state.bump`);
      await socket.untilVar(`${ROOT}.advised_state`, 'n', 1);
      const scrape = await until(async () => {
        const text = await (await fetch(`${running.url}/metrics`)).text();
        return text.includes('reflex_bridge_events_total{tier="full"} 1') ? text : undefined;
      }, 'the event in the scrape');
      expect(scrape).toContain('reflex_bridge_event_duration_seconds_bucket');
      const { body } = await getJson<{ histograms: Array<{ name: string }> }>(`${running.url}/_bridge/devtools/metrics`);
      expect(body.histograms.map((metric) => metric.name)).toContain('reflex_bridge_event_duration_seconds');
      socket.close();
    } finally {
      await running.close();
    }
  });

  it('refuses devtools with production: true at startup, naming the option', async () => {
    const compiling = Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot({ production: true, devtools: true })] }).compile();
    await expect(compiling).rejects.toThrow(/devtools/);
  });

  it('serves nothing when devtools are off', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({}), AdvisedModule] });
    try {
      expect((await fetch(`${running.url}/_bridge/devtools/events`)).status).toBe(404);
      expect(running.app.get(BridgeDevtools).enabled).toBe(false);
    } finally {
      await running.close();
    }
  });
});

/**
 * A client of `pipeline` in this process, with a new token, whose updates go to `onUpdate` and whose errors fail the
 * test: the function returned runs one `advised_state.bump` event of it to its end.
 */
function inProcessBump(pipeline: EventPipeline, sid: string, onUpdate: () => void = () => undefined): () => Promise<void> {
  const client: EventClient = {
    token: randomUUID(),
    sid,
    headers: {},
    remoteAddress: '127.0.0.1',
    emitUpdate: onUpdate,
    emitError: (error) => {
      throw new Error(`unexpected error ${error.code}: ${error.message}`);
    },
  };
  const frame = { name: `${ROOT}.advised_state.bump`, payload: {}, router_data: { pathname: '/', asPath: '/' } };
  return async () => {
    const pending = pipeline.handle(client, frame);
    if (pending) await pending;
  };
}

describe('devtools memory', () => {
  it('ends the event streams of a client that reads nothing, instead of queueing every event for it', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: { maxEvents: 100 }, rateLimit: false }), AdvisedModule] });
    const stalled = new Socket();
    stalled.on('error', () => undefined);
    try {
      const server = running.app.getHttpServer() as Server;
      const streams: ServerResponse[] = [];
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (req.url?.endsWith('/stream')) streams.push(res);
      };
      server.on('request', onRequest);
      const { port } = new URL(running.url);
      await new Promise<void>((resolve) => stalled.connect(Number(port), '127.0.0.1', resolve));
      // Reads nothing: what the server writes piles up in the socket buffers, then in the response. And it asks for
      // the stream 20 times in one go: Node runs every pipelined request at once and queues their answers.
      stalled.pause();
      stalled.write('GET /_bridge/devtools/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(20));
      await until(() => streams.length === 20 || undefined, 'the stream requests');
      server.off('request', onRequest);
      const pipeline = running.app.get(EventPipeline);
      const bump = inProcessBump(pipeline, 'stalled-stream-test');
      let heldMost = 0;
      // Each event is written to the stream as it is recorded; the kernel's buffers take some megabytes first.
      for (let i = 0; i < 100_000 && !streams[0].destroyed; i++) {
        await bump();
        heldMost = Math.max(heldMost, streams.reduce((sum, stream) => sum + stream.writableLength, 0));
      }
      expect(streams[0].destroyed).toBe(true);
      expect(heldMost).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
    } finally {
      stalled.destroy();
      await running.close();
    }
  }, 300_000);

  it("answers a client's pipelined requests one at a time, so one that reads nothing holds one answer, not all", async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: { maxEvents: 500 }, rateLimit: false }), AdvisedModule] });
    const stalled = new Socket();
    stalled.on('error', () => undefined);
    try {
      const pipeline = running.app.get(EventPipeline);
      const bump = inProcessBump(pipeline, 'pipelined-events-test');
      for (let i = 0; i < 500; i++) {
        await bump();
      }
      const oneAnswer = (await (await fetch(`${running.url}/_bridge/devtools/events`)).text()).length;
      const server = running.app.getHttpServer() as Server;
      const answers: ServerResponse[] = [];
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (req.url?.endsWith('/events')) answers.push(res);
      };
      server.on('request', onRequest);
      const { port } = new URL(running.url);
      await new Promise<void>((resolve) => stalled.connect(Number(port), '127.0.0.1', resolve));
      stalled.pause();
      stalled.write('GET /_bridge/devtools/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(200));
      await until(() => (answers.length === 200 ? true : undefined), 'the 200 requests');
      server.off('request', onRequest);
      // Whatever the socket buffers took, the answers still waiting for their turn hold nothing.
      const waiting = answers.filter((answer) => !answer.writableFinished && answer.socket === null);
      expect(waiting.length).toBeGreaterThan(0);
      expect(waiting.reduce((sum, answer) => sum + answer.writableLength, 0)).toBeLessThan(oneAnswer);
    } finally {
      stalled.destroy();
      await running.close();
    }
  }, 300_000);

  it('holds at most maxEvents inspections after 100,000 events', async () => {
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: { maxEvents: 500 }, rateLimit: false }), AdvisedModule] }, undefined, logger);
    try {
      const pipeline = running.app.get(EventPipeline);
      const devtools = running.app.get(BridgeDevtools);
      let updates = 0;
      const bump = inProcessBump(pipeline, 'memory-test', () => void updates++);
      for (let i = 0; i < 100_000; i++) {
        await bump();
        if (i === 1_000) expect(devtools.size).toBe(500);
      }
      expect(devtools.size).toBe(500);
      const recent = devtools.recent();
      expect(recent).toHaveLength(500);
      expect(recent[0].id - recent[499].id).toBe(499);
      expect(recent[0].id).toBeGreaterThanOrEqual(100_000);
      expect(updates).toBeGreaterThanOrEqual(100_000);
    } finally {
      await running.close();
    }
  }, 300_000);
});



/**
 * Cross-site requests must not act as the victim. Written as an attacker sends the bytes: raw WebSocket upgrades
 * (the `ws` package) with a chosen `Origin`, raw HTTP POSTs to the session cookie handoff and to the shop's routes
 * with the headers a browser would attach to another site's form post.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { ALL_STATES, createAuthStack, startAuthApp } from './fixtures/auth-app.js';
import { PingState } from './fixtures/ping.state.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket, handoffOf } from './support/raw-socket.js';

const ACCOUNT = 'reflex___state____state.account_state';
const FOREIGN = 'http://evil.example';
const FRONTEND = 'http://localhost:5173';

type Handshake = { opened: true; firstFrame: string } | { opened: false; status: number; body: string };

/**
 * A raw Engine.IO WebSocket upgrade on `/_event` with exactly these headers. Resolves with the Engine.IO open
 * packet when the server accepts, or with the HTTP status and body it answered instead.
 */
function handshake(baseUrl: string, headers: Record<string, string>): Promise<Handshake> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('message', (data: Buffer) => {
      resolve({ opened: true, firstFrame: data.toString() });
      socket.close();
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ opened: false, status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve({ opened: false, status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      // After an unexpected response `ws` also reports an error; the response decides.
      if (!/Unexpected server response/.test(String(error))) reject(error);
    });
  });
}

const ownOrigin = (running: { url: string }): string => running.url;

describe('the origin policy on the event socket handshake', () => {
  const apps: RunningApp[] = [];
  const start = async (options: ReflexBridgeModuleOptions = {}, logger?: CapturingLogger): Promise<RunningApp> => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [PingState] }, undefined, logger);
    apps.push(running);
    return running;
  };
  afterEach(async () => {
    for (const running of apps.splice(0)) await running.close();
  });

  it('by default refuses a foreign Origin and accepts the same origin and clients that send no Origin', async () => {
    const running = await start();
    const refused = await handshake(running.url, { origin: FOREIGN });
    expect(refused).toEqual({ opened: false, status: 400, body: expect.stringContaining('origin_not_allowed') });
    // The refusal never echoes the sender's Origin.
    expect((refused as { body: string }).body).not.toContain('evil');
    // `Origin: null` (a sandboxed frame, a cross-site redirect) is not the app's origin either.
    expect(await handshake(running.url, { origin: 'null' })).toMatchObject({ opened: false, status: 400 });

    expect(await handshake(running.url, { origin: ownOrigin(running) })).toMatchObject({ opened: true, firstFrame: expect.stringMatching(/^0\{"sid"/) });
    // The same host on another port or scheme is another origin.
    const port = Number(new URL(running.url).port);
    expect(await handshake(running.url, { origin: `http://127.0.0.1:${port + 1}` })).toMatchObject({ opened: false });
    expect(await handshake(running.url, { origin: `https://127.0.0.1:${port}` })).toMatchObject({ opened: false });
    // No Origin: not a browser (browsers always send one on WebSocket handshakes).
    expect(await handshake(running.url, {})).toMatchObject({ opened: true });
  });

  it('accepts listed origins (a frontend served from its own origin) besides the app\'s own, and refuses the rest', async () => {
    const running = await start({ corsOrigins: [FRONTEND, 'https://app.example.com'] });
    expect(await handshake(running.url, { origin: FRONTEND })).toMatchObject({ opened: true });
    expect(await handshake(running.url, { origin: 'https://app.example.com' })).toMatchObject({ opened: true });
    expect(await handshake(running.url, { origin: ownOrigin(running) })).toMatchObject({ opened: true });
    expect(await handshake(running.url, { origin: FOREIGN })).toMatchObject({ opened: false, status: 400 });
    expect(await handshake(running.url, { origin: 'http://localhost:5174' })).toMatchObject({ opened: false });
  });

  it('accepts every origin with corsOrigins: true', async () => {
    const running = await start({ corsOrigins: true });
    for (const origin of [FOREIGN, FRONTEND, 'null', ownOrigin(running)]) {
      expect(await handshake(running.url, { origin })).toMatchObject({ opened: true });
    }
  });

  it('behind a trusted proxy takes the own origin from X-Forwarded-Proto and X-Forwarded-Host, and only then', async () => {
    const proxied = { origin: 'https://shop.example', host: 'shop.example', 'x-forwarded-proto': 'https' };
    const direct = await start();
    expect(await handshake(direct.url, proxied)).toMatchObject({ opened: false });
    const behindProxy = await start({ bridge: { trustProxy: true } });
    expect(await handshake(behindProxy.url, proxied)).toMatchObject({ opened: true });
    // A proxy that rewrites Host but sends X-Forwarded-Host.
    expect(
      await handshake(behindProxy.url, { origin: 'https://shop.example', host: 'app:8000', 'x-forwarded-host': 'shop.example', 'x-forwarded-proto': 'https' }),
    ).toMatchObject({ opened: true });
    expect(await handshake(behindProxy.url, { ...proxied, origin: FOREIGN })).toMatchObject({ opened: false });
    // A plain-HTTP page is not the HTTPS origin.
    expect(await handshake(behindProxy.url, { ...proxied, origin: 'http://shop.example' })).toMatchObject({ opened: false });
  });

  it('gives a Socket.IO client a connect_error, and logs a refused origin once', async () => {
    const logger = new CapturingLogger();
    const running = await start({}, logger);
    for (let attempt = 0; attempt < 3; attempt++) {
      const socket = io(`${running.url}/_event`, {
        path: '/_event',
        transports: ['websocket'],
        query: { token: randomUUID() },
        reconnection: false,
        forceNew: true,
        extraHeaders: { origin: FOREIGN },
      });
      const error = await new Promise<Error & { description?: unknown }>((resolve) => socket.once('connect_error', resolve));
      socket.close();
      expect(error.message).toBe('websocket error');
      expect(String((error.description as { message?: string } | undefined)?.message ?? error.description)).toMatch(/400/);
    }
    const refusals = logger.lines.filter((line) => line.level === 'warn' && line.message.includes('Refused'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0].message).toContain(JSON.stringify(FOREIGN));
    expect(refusals[0].message).toContain('corsOrigins');
    // A same-origin client still connects and works.
    const good = new RawSocket(running.url, undefined, { headers: { origin: running.url } });
    try {
      await good.connected();
      await good.hydrate();
    } finally {
      good.close();
    }
  });

  it('refuses corsOrigins entries that are not origins, naming the entry', async () => {
    await expect(start({ corsOrigins: ['https://app.example.com/path'] })).rejects.toThrow('invalid option "corsOrigins[0]"');
    await expect(start({ corsOrigins: [FRONTEND, '*'] })).rejects.toThrow('invalid option "corsOrigins[1]"');
    await expect(start({ corsOrigins: 'https://app.example.com' as never })).rejects.toThrow('invalid option "corsOrigins"');
  });
});

describe('the session cookie handoff cannot be redeemed cross-site', () => {
  let running: RunningApp | undefined;
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close();
    running = undefined;
  });

  const connect = async (cookie?: string): Promise<RawSocket> => {
    const socket = new RawSocket(running!.url, undefined, { headers: cookie ? { cookie } : {} });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  /** Logs in over an event (first login: the tab had no cookie) and returns the handoff the tab received. */
  const loginOverEvent = async (): Promise<{ tab: RawSocket; url: string; secret: string }> => {
    const tab = await connect();
    tab.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await tab.until(() => tab.updates.some((update) => handoffOf(update) !== undefined));
    const { url, secret } = handoffOf(tab.updates.find((update) => handoffOf(update) !== undefined)!)!;
    expect(typeof secret).toBe('string');
    expect(url).not.toContain(secret);
    return { tab, url, secret };
  };

  const post = (path: string, headers: Record<string, string>) => fetch(`${running!.url}${path}`, { method: 'POST', headers });

  it('refuses cross-site posts, posts without the tab\'s secret and token, and other tabs; the owning tab redeems it', async () => {
    running = await startAuthApp({ mode: 'full' });
    const { tab, url, secret } = await loginOverEvent();
    const proof = { 'x-reflex-handoff': secret, 'reflex-client-token': tab.token };

    // Another site's auto-submitted form: the browser says so with Sec-Fetch-Site and Origin.
    const crossSite = await post(url, { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.json()).toEqual({ code: 'origin_not_allowed', message: expect.any(String) });
    expect(crossSite.headers.get('set-cookie')).toBeNull();
    const foreignOrigin = await post(url, { origin: FOREIGN, 'sec-fetch-site': 'cross-site', ...proof });
    expect(foreignOrigin.status).toBe(403);
    expect(foreignOrigin.headers.get('set-cookie')).toBeNull();
    expect(foreignOrigin.headers.get('access-control-allow-origin')).toBeNull();
    const sameSite = await post(url, { 'sec-fetch-site': 'same-site', ...proof });
    expect(sameSite.status).toBe(403);

    // Same origin but without the proof only the owning tab has.
    const bare = await post(url, { origin: running.url, 'sec-fetch-site': 'same-origin' });
    expect(bare.status).toBe(403);
    expect(await bare.json()).toMatchObject({ code: 'handoff_refused' });
    const noToken = await post(url, { 'x-reflex-handoff': secret });
    expect(noToken.status).toBe(403);
    const wrongSecret = await post(url, { ...proof, 'x-reflex-handoff': `${secret.slice(0, -2)}xx` });
    expect(wrongSecret.status).toBe(410);
    const otherTab = await post(url, { ...proof, 'reflex-client-token': randomUUID() });
    expect(otherTab.status).toBe(410);
    expect(otherTab.headers.get('set-cookie')).toBeNull();

    // None of that spent it: the owning tab redeems it, as a browser would send it. The route's path in another
    // letter case reaches the route too (Express routes case-insensitively), and a query never names the id.
    expect(url).toMatch(/^\/_bridge\/session-cookie\//);
    const redeemed = await post(`${url.replace('/_bridge/session-cookie/', '/_BRIDGE/Session-Cookie/')}?next=/_bridge/session-cookie/other`, {
      origin: running.url,
      'sec-fetch-site': 'same-origin',
      ...proof,
    });
    expect(redeemed.status).toBe(200);
    const cookie = redeemed.headers.get('set-cookie')!.split(';')[0];
    expect(cookie).toMatch(/^connect\.sid=/);
    expect((await post(url, proof)).status).toBe(410);

    // Reconnecting with the cookie: logged in.
    const again = await connect(cookie);
    again.send(`${ACCOUNT}.whoami`);
    await again.untilVar(ACCOUNT, 'seen', 'alice');
  });

  it('answers an OPTIONS request that names no origin (no CORS preflight) with the methods its route takes, not "this origin is not allowed"', async () => {
    // Browsers send an Origin with every preflight: one without it is an HTTP client asking what the route takes. It
    // got 403 "Requests from this origin are not allowed here", about an origin it never sent.
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ corsOrigins: [FRONTEND] })], providers: [PingState] });
    for (const path of ['/_upload', '/_bridge/session-cookie/some-id']) {
      const plain = await fetch(`${running.url}${path}`, { method: 'OPTIONS' });
      expect({ path, status: plain.status, allow: plain.headers.get('allow') }).toEqual({ path, status: 204, allow: 'OPTIONS, POST' });
      expect(plain.headers.get('access-control-allow-origin')).toBeNull();
      expect(plain.headers.get('vary')).toMatch(/Origin/);
      // A preflight from an origin that is not listed is still refused, and a listed one approved.
      const foreign = await fetch(`${running.url}${path}`, { method: 'OPTIONS', headers: { origin: FOREIGN, 'access-control-request-method': 'POST' } });
      expect(foreign.status).toBe(403);
      const listed = await fetch(`${running.url}${path}`, { method: 'OPTIONS', headers: { origin: FRONTEND, 'access-control-request-method': 'POST' } });
      expect(listed.status).toBe(204);
      expect(listed.headers.get('access-control-allow-origin')).toBe(FRONTEND);
      // The app's own origin needs no CORS (browsers never preflight a same-origin request): the methods, no approval.
      const own = await fetch(`${running.url}${path}`, { method: 'OPTIONS', headers: { origin: running.url, 'access-control-request-method': 'POST' } });
      expect({ path, status: own.status, allow: own.headers.get('allow'), cors: own.headers.get('access-control-allow-origin') }).toEqual({ path, status: 204, allow: 'OPTIONS, POST', cors: null });
    }
  });

  it('approves the CORS preflight for listed origins only, and lets a listed frontend redeem', async () => {
    const preflight = (path: string, origin: string) =>
      fetch(`${running!.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-reflex-handoff, reflex-client-token' },
      });
    const stack = createAuthStack();
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ corsOrigins: [FRONTEND], bridge: { authMiddleware: stack.authMiddleware } })], providers: ALL_STATES });
    const { tab, url, secret } = await loginOverEvent();

    const refused = await preflight(url, FOREIGN);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const approved = await preflight(url, FRONTEND);
    expect(approved.status).toBe(204);
    expect(approved.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(approved.headers.get('access-control-allow-credentials')).toBe('true');
    expect(approved.headers.get('access-control-allow-headers')).toMatch(/x-reflex-handoff/);

    const redeemed = await post(url, { origin: FRONTEND, 'sec-fetch-site': 'same-site', 'x-reflex-handoff': secret, 'reflex-client-token': tab.token });
    expect(redeemed.status).toBe(200);
    expect(redeemed.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(redeemed.headers.get('set-cookie')).toMatch(/^connect\.sid=/);
  });
});

describe('the shop with FRONTEND_ORIGINS', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', FRONTEND_ORIGINS: ` ${FRONTEND} , https://shop-ui.example ` })), { logger: ['error'] });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
  });

  const login = (headers: Record<string, string>, body = 'username=demo&password=demo123') =>
    fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, redirect: 'manual' });

  it('refuses POST /auth/login from another site (login CSRF) and accepts it from the shop and its frontends', async () => {
    const forged = await login({ origin: FOREIGN, 'sec-fetch-site': 'cross-site' });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ code: 'origin_not_allowed' });
    expect(forged.headers.get('set-cookie')).toBeNull();
    expect([forged.headers.get('x-content-type-options'), forged.headers.get('cache-control')]).toEqual(['nosniff', 'no-store']);
    expect((await login({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await login({ origin: 'null' })).status).toBe(403);

    const allowed: Array<Record<string, string>> = [{ origin: url, 'sec-fetch-site': 'same-origin' }, { origin: FRONTEND, 'sec-fetch-site': 'same-site' }, { origin: 'https://shop-ui.example' }, {}];
    for (const headers of allowed) {
      const response = await login(headers);
      expect(response.status).toBe(200);
      expect(response.headers.get('set-cookie')).toMatch(/^shop\.sid=/);
    }
  });

  it('refuses the other state-changing routes from another site, but not their GETs', async () => {
    const staff = (await login({ origin: url })).headers.get('set-cookie')!.split(';')[0];
    const cross = { origin: FOREIGN, 'sec-fetch-site': 'cross-site', cookie: staff };
    expect((await fetch(`${url}/auth/logout`, { method: 'POST', headers: cross })).status).toBe(403);
    expect((await fetch(`${url}/staff/products/1`, { method: 'PATCH', headers: { ...cross, 'content-type': 'application/json' }, body: '{"price":1}' })).status).toBe(403);
    expect((await fetch(`${url}/staff/products`, { method: 'POST', headers: { ...cross, 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
    expect((await fetch(`${url}/likes`, { method: 'POST', headers: { ...cross, 'x-reflex-token': randomUUID() } })).status).toBe(403);
    expect((await fetch(`${url}/auth/me`, { headers: cross })).status).toBe(200);
    // The refused logout did not log out.
    expect(await (await fetch(`${url}/auth/me`, { headers: { cookie: staff } })).json()).toEqual({ user: 'demo' });
    expect((await fetch(`${url}/auth/logout`, { method: 'POST', headers: { origin: url, cookie: staff } })).status).toBe(200);
  });

  it('accepts the event socket from the shop and FRONTEND_ORIGINS only', async () => {
    expect(await handshake(url, { origin: FOREIGN })).toMatchObject({ opened: false, status: 400 });
    expect(await handshake(url, { origin: FRONTEND })).toMatchObject({ opened: true });
    expect(await handshake(url, { origin: 'https://shop-ui.example' })).toMatchObject({ opened: true });
    expect(await handshake(url, { origin: url })).toMatchObject({ opened: true });
  });
});

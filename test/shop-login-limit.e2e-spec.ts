import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { LOGIN_ACCOUNT_LIMIT } from '../apps/shop/src/auth/login-limit.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const ACCOUNT = 'reflex___state____state.account_state';

/** The shop as `main.ts` builds it behind a proxy (TRUST_PROXY=1: the client address is X-Forwarded-For's). */
async function startShop(env: Record<string, string> = {}): Promise<{ app: INestApplication; url: string }> {
  const app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', TRUST_PROXY: '1', ...env })), { logger: false });
  (app.getHttpAdapter().getInstance() as express.Express).set('trust proxy', 1);
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/** A new client address for every attempt: a botnet, each of whose addresses stays far below the per-address limit. */
let addresses = 0;
const nextAddress = () => `198.51.${100 + (Math.floor(++addresses / 250) % 100)}.${(addresses % 250) + 1}`;

async function attempt(url: string, username: string, password: string): Promise<{ status: number; body: string; retryAfter: string | null }> {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': nextAddress() },
    body: JSON.stringify({ username, password }),
  });
  return { status: response.status, body: await response.text(), retryAfter: response.headers.get('retry-after') };
}

describe('the shop login limit per account (one process)', () => {
  let app: INestApplication;
  let url: string;
  const tabs: RawSocket[] = [];
  beforeAll(async () => {
    ({ app, url } = await startShop());
  });
  afterAll(async () => {
    for (const tab of tabs) tab.close();
    await app?.close();
  });

  it('refuses guesses at one account from many addresses, even the right password, alike for an unknown account', async () => {
    // Only the address was counted (5 a minute): 60 addresses guessed 60 passwords of one account, and then logged in.
    const guesses = LOGIN_ACCOUNT_LIMIT.limit + 5;
    const demo: Array<Awaited<ReturnType<typeof attempt>>> = [];
    const nobody: Array<Awaited<ReturnType<typeof attempt>>> = [];
    for (let i = 0; i < guesses; i++) {
      demo.push(await attempt(url, 'demo', `guess-${i}`));
      nobody.push(await attempt(url, 'nobody-here', `guess-${i}`));
    }
    expect(demo.map((answer) => answer.status)).toEqual([...Array(LOGIN_ACCOUNT_LIMIT.limit).fill(401), ...Array(5).fill(429)]);
    const right = await attempt(url, 'demo', 'demo123');
    expect(right.status).toBe(429);
    expect(Number(right.retryAfter)).toBeGreaterThan(0);
    // The same answers, word for word, for an account that does not exist: the limit tells nobody which names are taken.
    expect(nobody.map((answer) => [answer.status, answer.body])).toEqual(demo.map((answer) => [answer.status, answer.body]));
    expect(JSON.parse(right.body)).toMatchObject({ statusCode: 429 });
    // Other accounts are not held up.
    expect((await attempt(url, 'staff', 'staff123')).status).toBe(200);
  });

  it('counts logins over events against the same account limit as over HTTP, whatever the address or socket', async () => {
    const overEvents = async (i: number): Promise<string> => {
      const tab = new RawSocket(url, undefined, { headers: { 'x-forwarded-for': nextAddress() } });
      tabs.push(tab);
      await tab.connected();
      await tab.hydrate();
      tab.send(`${ACCOUNT}.login`, { username: 'carol', password: `guess-${i}` });
      await tab.until(() => tab.errors.length > 0 || String(tab.latest(ACCOUNT, 'loginError') ?? '') !== '', undefined, 'the login answered');
      tab.close();
      return tab.errors[0]?.code ?? 'wrong password';
    };
    const codes: string[] = [];
    for (let i = 0; i < LOGIN_ACCOUNT_LIMIT.limit; i++) codes.push(await overEvents(i));
    expect(codes).toEqual(Array(LOGIN_ACCOUNT_LIMIT.limit).fill('wrong password'));
    // The account's attempts are used up for HTTP too, and the next one over events is refused.
    expect((await attempt(url, 'carol', 'guess')).status).toBe(429);
    expect(await overEvents(LOGIN_ACCOUNT_LIMIT.limit)).toBe('rate_limited');
  });
});

describeWithRedis('the shop login limit per account (two workers sharing Redis)', () => {
  let redis: RedisTestServer;
  const apps: INestApplication[] = [];
  const urls: string[] = [];
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    for (let i = 0; i < 2; i++) {
      const { app, url } = await startShop({ REDIS_URL: redis.url });
      apps.push(app);
      urls.push(url);
    }
  }, 60_000);
  afterAll(async () => {
    for (const app of apps) await app.close();
    await redis?.destroy();
  });

  it('counts the attempts on every worker together', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= LOGIN_ACCOUNT_LIMIT.limit; i++) statuses.push((await attempt(urls[i % 2], 'demo', `guess-${i}`)).status);
    expect(statuses).toEqual([...Array(LOGIN_ACCOUNT_LIMIT.limit).fill(401), 429]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';

/** The shop as `main.ts` builds it, on a free loopback port, over `env` (SQLite in memory unless DATABASE_URL). */
async function startShop(env: Record<string, string>): Promise<{ app: INestApplication; url: string }> {
  const app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', ...env })), { logger: false });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

describe('the shop under hostile input (SQLite)', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await startShop({}));
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers a login whose credentials are not strings with 400 or 401, never a 500', async () => {
    // passport-local hands any truthy JSON value to the verify function: a number reached scrypt, which threw.
    const bodies = [
      { username: 'demo', password: 7 },
      { username: 7, password: 'demo123' },
      { username: 'demo', password: true },
      { username: 'demo', password: { length: 1 } },
      { username: ['demo'], password: ['demo123'] },
    ];
    const statuses: number[] = [];
    for (const body of bodies) {
      const response = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' }, body: JSON.stringify(body) });
      statuses.push(response.status);
    }
    expect(statuses.filter((status) => status !== 400 && status !== 401 && status !== 429)).toEqual([]);
  });
});

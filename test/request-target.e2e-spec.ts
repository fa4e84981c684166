/**
 * A request whose target is not a path (`OPTIONS *`, HTTP's server-wide OPTIONS, or `GET *`) on the shop, whose HTTP
 * routes run express-session and passport as the docs recommend: express-session skips such a request, and
 * passport's session middleware then threw, a 500 and an error with its stack in the log for every one.
 * `RequestTargetMiddleware`, mounted first, answers them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { CapturingLogger } from './support/app.js';

/** Sends `head` on a fresh connection and reads until the server closes it (the request asks for that). */
function exchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(`${head}Host: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

const statusOf = (answer: string) => Number(answer.split(' ')[1]);
const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

describe('requests whose target is not a path, on the shop', () => {
  let app: INestApplication;
  let port: number;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:' })), { logger });
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app?.close();
  });

  const errorsLogged = () => logger.lines.filter((line) => line.level === 'error');

  it('answers OPTIONS * with 204, and other methods on * with 400 invalid_request_target, logging nothing', async () => {
    expect(statusOf(await exchange(port, 'OPTIONS * HTTP/1.1\r\n'))).toBe(204);
    for (const method of ['GET', 'HEAD', 'POST']) {
      const answer = await exchange(port, `${method} * HTTP/1.1\r\nContent-Length: 0\r\n`);
      expect({ method, status: statusOf(answer) }).toEqual({ method, status: 400 });
      if (method !== 'HEAD') expect(JSON.parse(bodyOf(answer))).toMatchObject({ code: 'invalid_request_target' });
    }
    expect(errorsLogged()).toEqual([]);
  });

  it('lets every path through to the routes as before', async () => {
    expect(JSON.parse(bodyOf(await exchange(port, 'GET /auth/me HTTP/1.1\r\n')))).toEqual({ user: null });
    expect(statusOf(await exchange(port, 'OPTIONS /auth/me HTTP/1.1\r\n'))).not.toBe(500);
    expect(statusOf(await exchange(port, 'GET http://127.0.0.1/auth/me HTTP/1.1\r\n'))).toBe(200);
    expect(errorsLogged()).toEqual([]);
  });
});

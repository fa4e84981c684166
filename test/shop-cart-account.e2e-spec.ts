import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { MAX_LINE_QUANTITY } from '../apps/shop/src/cart/cart.state.js';
import { DataSource } from 'typeorm';
import { ShopOrder } from '../apps/shop/src/cart/shop-order.entity.js';
import { CartService } from '../apps/shop/src/cart/cart.service.js';
import { CHECKOUT_LIMIT } from '../apps/shop/src/cart/checkout-limit.js';
import { RawSocket } from './support/raw-socket.js';
import { PostgresTestServer } from './support/postgres-server.js';

const CART = 'reflex___state____state.cart_state';

interface Line {
  productId: number;
  price: number;
  quantity: number;
}

/** A session cookie of a demo user: each login is another device. */
async function login(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(response.status).toBe(200);
  return response.headers.get('set-cookie')!.split(';')[0];
}

/**
 * The cart specs on `workers` shop apps sharing one database: tabs alternate between them (each app has its own
 * in-memory sessions and states, as workers without Redis), so on Postgres two tabs of one user are two workers.
 */
function suite(name: string, database: () => Promise<{ env: Record<string, string>; workers: number; cleanup: () => Promise<void> }>): void {
  describe(`the shop cart, kept with the user's account (${name})`, () => {
    const apps: INestApplication[] = [];
    const urls: string[] = [];
    const tabs: RawSocket[] = [];
    let cleanup: (() => Promise<void>) | undefined;
    let opened = 0;
    beforeAll(async () => {
      const { env, workers, cleanup: done } = await database();
      cleanup = done;
      // One after the other: each creates the tables and seeds on start.
      for (let i = 0; i < workers; i++) {
        const app = await NestFactory.create(ShopModule.forRoot(readShopConfig(env)), { logger: false });
        apps.push(app);
        app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
        mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
        await app.listen(0, '127.0.0.1');
        urls.push(`http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`);
      }
    });
    afterAll(async () => {
      for (const tab of tabs) tab.close();
      for (const app of apps) await app.close();
      await cleanup?.();
    });

    /** Session cookies by worker and user: logins are limited (5 a minute per address). */
    const sessions = new Map<string, string>();

    /**
     * A new tab of `username` on the next worker in turn: in a browser of the user's already signed in there, or,
     * `device`, after a login of its own (another device).
     */
    const openTab = async (username = 'demo', device = false): Promise<RawSocket> => {
      const url = urls[opened++ % urls.length];
      let cookie = sessions.get(`${url} ${username}`);
      if (!cookie || device) sessions.set(`${url} ${username}`, (cookie = await login(url, username, `${username}123`)));
      const tab = new RawSocket(url, undefined, { headers: { cookie } });
      tabs.push(tab);
      await tab.connected();
      await tab.hydrate();
      return tab;
    };

    /** Sends `name` and waits for its answer (an update or an error). */
    const answered = async (tab: RawSocket, name: string, payload: Record<string, unknown> = {}): Promise<void> => {
      const [updates, errors] = [tab.updates.length, tab.errors.length];
      tab.send(`${CART}.${name}`, payload);
      await tab.until(() => tab.updates.length > updates || tab.errors.length > errors, undefined, `${name} answered`);
    };

    it('shows the cart filled on one device in a new tab and on another device', async () => {
      // Before: the cart lived in the tab's state (its token), so a second tab or another device of the same user
      // showed an empty cart (count 0 after refreshPrices), and the lines were lost with the tab.
      const first = await openTab();
      await answered(first, 'clear');
      first.send(`${CART}.add`, { productId: 1 });
      first.send(`${CART}.add`, { productId: 2 });
      first.send(`${CART}.add`, { productId: 2 });
      await first.untilVar(CART, 'count', 3);

      const second = await openTab('demo', true);
      await answered(second, 'refreshPrices');
      expect(second.errors).toEqual([]);
      expect(second.latest(CART, 'count')).toBe(3);
      expect((second.latest(CART, 'lines') as Line[]).map(({ productId, quantity }) => ({ productId, quantity }))).toEqual([
        { productId: 1, quantity: 1 },
        { productId: 2, quantity: 2 },
      ]);

      // A change from the second device is what the first one reads next.
      second.send(`${CART}.remove`, { productId: 1 });
      await second.untilVar(CART, 'count', 2);
      first.send(`${CART}.refreshPrices`, {});
      await first.untilVar(CART, 'count', 2);

      // Another user's tab sees none of it.
      const other = await openTab('staff');
      await answered(other, 'refreshPrices');
      expect(other.errors).toEqual([]);
      expect(other.latest(CART, 'count') ?? 0).toBe(0);
    });

    it('bounds a line added from two tabs at once', async () => {
      const [a, b] = [await openTab(), await openTab()];
      await answered(a, 'clear');
      for (let i = 0; i < MAX_LINE_QUANTITY; i++) {
        a.send(`${CART}.add`, { productId: 3 });
        b.send(`${CART}.add`, { productId: 3 });
      }
      // An add is refused only once the line holds 99: by the 99th refusal, every accepted add is in.
      await a.until(() => a.errors.length + b.errors.length >= MAX_LINE_QUANTITY, undefined, 'every add answered');
      a.send(`${CART}.refreshPrices`, {});
      await a.untilVar(CART, 'count', MAX_LINE_QUANTITY);
      expect([...a.errors, ...b.errors].every((error) => error.code === 'invalid_payload')).toBe(true);
    });

    it('makes one order when two tabs check out at once, at current prices, and empties the cart', async () => {
      const [a, b] = [await openTab(), await openTab()];
      await answered(a, 'clear');
      a.send(`${CART}.add`, { productId: 4 });
      a.send(`${CART}.add`, { productId: 4 });
      a.send(`${CART}.add`, { productId: 5 });
      await a.untilVar(CART, 'count', 3);
      const orders = apps[0].get(DataSource).getRepository(ShopOrder);
      const before = await orders.count();

      // Both at once, and a double click in one of them.
      a.send(`${CART}.checkout`, {});
      b.send(`${CART}.checkout`, {});
      a.send(`${CART}.checkout`, {});
      const placed = (tab: RawSocket) => tab.latest(CART, 'order') as { id: number; total: number } | null | undefined;
      await a.until(() => (placed(a) && placed(b) && a.latest(CART, 'count') === 0) || a.errors.length + b.errors.length > 0, undefined, 'both checkouts answered');
      expect([...a.errors, ...b.errors]).toEqual([]);
      expect(await orders.count()).toBe(before + 1);
      const order = (await orders.find({ order: { id: 'DESC' }, take: 1 }))[0];
      expect(placed(a)).toEqual({ id: order.id, total: order.total });
      expect(placed(b)).toEqual({ id: order.id, total: order.total });
      // Desk lamp twice and a notebook, at the catalogue's prices.
      expect(order.total).toBe(2 * 6200 + 1200);
      expect(order.lines.map(({ productId, quantity, price }) => ({ productId, quantity, price }))).toEqual([
        { productId: 4, quantity: 2, price: 6200 },
        { productId: 5, quantity: 1, price: 1200 },
      ]);
      expect(b.latest(CART, 'count') ?? 0).toBe(0);
    });

    it("serves many users' carts at once, more than the database pool has connections", async () => {
      // Before: a cart change read the products on another pooled connection than its transaction's; with 10 (the pg
      // pool's size) users' changes holding their connections at once, each waited for an 11th for good: every
      // cart of the worker hung. Users no account has are enough here: each change still takes its connection.
      const carts = apps[0].get(CartService);
      const users = Array.from({ length: 24 }, (_, i) => 1_000_000 + i);
      const lines = await Promise.all(users.map((user) => carts.add(user, 1)));
      expect(lines.map((line) => line.map(({ productId, quantity }) => ({ productId, quantity })))).toEqual(users.map(() => [{ productId: 1, quantity: 1 }]));
      await Promise.all(users.map((user) => carts.clear(user)));
    });

    it('refuses a checkout of a cart that never held anything, and hostile product ids', async () => {
      const tab = await openTab('staff');
      await answered(tab, 'clear');
      await answered(tab, 'checkout');
      expect(tab.errors.map((error) => error.code)).toEqual(['invalid_payload']);
      for (const productId of [-1, 0, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER, '1', null, [1], { n: 1 }]) {
        await answered(tab, 'add', { productId });
      }
      expect(tab.errors.map((error) => error.code)).toEqual(Array(10).fill('invalid_payload'));
      // None of them added anything.
      tab.send(`${CART}.add`, { productId: 1 });
      await tab.untilVar(CART, 'count', 1);
    });

    it('makes at most CHECKOUT_LIMIT orders a minute from one address', async () => {
      // Before: each checkout of a filled cart wrote an order row for good, as fast as a script could loop add and
      // checkout (12 of 12 here, and on, within the connection budget).
      const tab = await openTab();
      const orders = apps[0].get(DataSource).getRepository(ShopOrder);
      const before = await orders.count();
      for (let i = 0; i < CHECKOUT_LIMIT.limit + 2 && !tab.errors.some((error) => error.code === 'rate_limited'); i++) {
        await answered(tab, 'add', { productId: 1 });
        await answered(tab, 'checkout');
      }
      expect(tab.errors.map((error) => error.code)).toContain('rate_limited');
      // The suite's earlier checkouts from this address count too.
      expect(await orders.count()).toBeLessThanOrEqual(before + CHECKOUT_LIMIT.limit);
    });
  });
}

suite('SQLite, one worker', async () => ({ env: { SQLITE_PATH: ':memory:' }, workers: 1, cleanup: async () => undefined }));

if (PostgresTestServer.findBinDir() !== undefined || process.env.CI === 'true') {
  suite('Postgres, two workers', async () => {
    const server = await PostgresTestServer.launch();
    return { env: { DATABASE_URL: server.connectionString }, workers: 2, cleanup: () => server.destroy() };
  });
}

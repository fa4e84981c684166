import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { DataSource } from 'typeorm';
import { Product } from '../apps/shop/src/catalog/product.entity.js';
import { MAX_CART_LINES, MAX_LINE_QUANTITY } from '../apps/shop/src/cart/cart.state.js';
import { RawSocket } from './support/raw-socket.js';

const CART = 'reflex___state____state.cart_state';

interface Line {
  productId: number;
  name: string;
  price: number;
  quantity: number;
  addedPrice: number;
}

/** A session cookie of a demo user. */
async function login(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(response.status).toBe(200);
  return response.headers.get('set-cookie')!.split(';')[0];
}

describe('the shop cart: prices and bounds', () => {
  let app: INestApplication;
  let url: string;
  const tabs: RawSocket[] = [];
  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:' })), { logger: false });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    // More products than a cart holds lines (one insert, no live changes).
    const rows = Array.from({ length: MAX_CART_LINES + 2 }, (_, i) => ({ name: `Extra ${i}`, category: 'home', price: 100, image: null }));
    await app.get(DataSource).createQueryBuilder().insert().into(Product).values(rows).callListeners(false).execute();
  });
  afterAll(async () => {
    for (const tab of tabs) tab.close();
    await app?.close();
  });

  const setPrice = async (staff: string, id: number, price: number) => {
    const response = await fetch(`${url}/staff/products/${id}`, { method: 'PATCH', headers: { cookie: staff, 'content-type': 'application/json' }, body: JSON.stringify({ price }) });
    expect(response.status).toBe(200);
  };

  it('totals the cart at the current prices and shows which line changed since it was added', async () => {
    // A line kept the price of the moment it was added: after staff raised it, the cart went on totalling (and would
    // have charged) the old price, and nothing told the shopper.
    const staff = await login(url, 'staff', 'staff123');
    const tab = new RawSocket(url, undefined, { headers: { cookie: await login(url, 'demo', 'demo123') } });
    tabs.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${CART}.add`, { productId: 1 }); // Espresso cup, 900
    await tab.untilVar(CART, 'total', 900);

    await setPrice(staff, 1, 1500);
    tab.send(`${CART}.add`, { productId: 2 }); // Pour-over kettle, 4500
    await tab.until(() => tab.latest(CART, 'count') === 2 || tab.errors.length > 0, undefined, 'the second add answered');
    expect(tab.errors).toEqual([]);
    expect(tab.latest(CART, 'total')).toBe(1500 + 4500);
    const lines = tab.latest(CART, 'lines') as Line[];
    expect(lines.map(({ productId, price, addedPrice }) => ({ productId, price, addedPrice }))).toEqual([
      { productId: 1, price: 1500, addedPrice: 900 },
      { productId: 2, price: 4500, addedPrice: 4500 },
    ]);

    // The cart page asks for the current prices when it opens: a lowered price shows without any other cart event.
    await setPrice(staff, 2, 4000);
    tab.send(`${CART}.refreshPrices`, {});
    await tab.untilVar(CART, 'total', 1500 + 4000);
    expect(tab.errors).toEqual([]);
  });

  it('bounds the lines of a cart and the quantity of a line, with a clear error', async () => {
    // Unbounded: a script added every product of the catalogue (each add then re-reading them all) and any quantity
    // (a total past 2^53 cents is no longer exact).
    const tab = new RawSocket(url, undefined, { headers: { cookie: await login(url, 'demo', 'demo123') } });
    tabs.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${CART}.clear`, {});
    for (let i = 0; i <= MAX_LINE_QUANTITY; i++) tab.send(`${CART}.add`, { productId: 1 });
    await tab.until(() => tab.errors.length > 0 || tab.latest(CART, 'count') === MAX_LINE_QUANTITY + 1, undefined, 'the adds answered');
    expect(tab.latest(CART, 'count')).toBe(MAX_LINE_QUANTITY);
    expect(tab.errors.map((error) => error.code)).toEqual(['invalid_payload']);
    expect(tab.errors[0].message).toMatch(/at most 99/);

    tab.send(`${CART}.clear`, {});
    await tab.untilVar(CART, 'count', 0);
    const extra = 9; // the 8 seeded products come first
    for (let i = 0; i <= MAX_CART_LINES; i++) tab.send(`${CART}.add`, { productId: extra + i });
    await tab.until(() => tab.errors.length > 1 || (tab.latest(CART, 'lines') as Line[]).length === MAX_CART_LINES + 1, undefined, 'the adds answered');
    expect((tab.latest(CART, 'lines') as Line[]).length).toBe(MAX_CART_LINES);
    expect(tab.errors.slice(1).map((error) => error.code)).toEqual(['invalid_payload']);
    // Another of a product already in the full cart still goes in.
    tab.send(`${CART}.add`, { productId: extra });
    await tab.untilVar(CART, 'count', MAX_CART_LINES + 1);
  });
});

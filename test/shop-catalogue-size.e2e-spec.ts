import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { Product } from '../apps/shop/src/catalog/product.entity.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

const FILTER = 'reflex___state____state.filter_state';
/** Products in the large catalogue: a shop of a modest size. */
const PRODUCTS = 2_000;

interface Row {
  id: number;
  name: string;
  category: string;
  price: number;
}

describe('the shop catalogue with 2,000 products', () => {
  let app: INestApplication;
  let url: string;
  const tabs: RawSocket[] = [];
  beforeAll(async () => {
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:' })), { logger: false });
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    // Past the 8 seeded ones; one query, not 2,000 live changes.
    const categories = ['kitchen', 'office', 'home'];
    const rows = Array.from({ length: PRODUCTS - 8 }, (_, i) => ({ name: `Product ${i + 9}`, category: categories[i % 3], price: 100 + i, image: null }));
    await app.get(DataSource).createQueryBuilder().insert().into(Product).values(rows).callListeners(false).execute();
  }, 60_000);
  afterAll(async () => {
    for (const tab of tabs) tab.close();
    await app?.close();
  });

  const open = async (pathname = '/') => {
    const tab = new RawSocket(url);
    tabs.push(tab);
    await tab.connected();
    await tab.hydrate({ pathname, asPath: pathname, query: {} });
    await tab.until(() => ((tab.latest(FILTER, 'products') as unknown[] | undefined) ?? []).length > 0, undefined, 'the catalogue');
    return tab;
  };
  /** Bytes the tab was sent for the catalogue state: what each tab's state holds, and twice what one page shows. */
  const bytesOf = (tab: RawSocket) => tab.updates.reduce((sum, update) => sum + Buffer.byteLength(JSON.stringify(update.delta?.[FILTER] ?? {})), 0);

  it('keeps one page of it per tab, not the whole catalogue twice', async () => {
    // Every tab's state held all 2,000 rows, and its first update carried them twice (`products` and `visible`):
    // 260 KB per tab sent and about half of it held per tab; 10,000 products passed maxStateBytes and no page loaded.
    const tab = await open();
    const bytes = bytesOf(tab);
    expect(bytes).toBeLessThan(20_000);
    expect(tab.latest(FILTER, 'matching')).toBe(PRODUCTS);
    expect(tab.latest(FILTER, 'categories')).toEqual(['home', 'kitchen', 'office']);
  });

  it('pages through the whole catalogue, and filters it in the database', async () => {
    const tab = await open();
    const pageCount = tab.latest(FILTER, 'pageCount') as number;
    expect(pageCount).toBeGreaterThan(1);
    tab.send(`${FILTER}.setPage`, { value: pageCount });
    await tab.untilVar(FILTER, 'page', pageCount);
    expect((tab.latest(FILTER, 'visible') as Row[]).at(-1)?.name).toBe(`Product ${PRODUCTS}`);
    // A query finds a product far past the first page, and takes the page back to 1.
    tab.send(`${FILTER}.setQuery`, { value: 'product 1999' });
    await tab.untilVar(FILTER, 'matching', 1);
    expect((tab.latest(FILTER, 'visible') as Row[]).map((row) => row.name)).toEqual(['Product 1999']);
    expect(tab.latest(FILTER, 'page')).toBe(1);
    // `%` and `_` are characters a name may hold, not patterns that match every name.
    for (const value of ['%', '_', '\\']) {
      tab.send(`${FILTER}.setQuery`, { value });
      await tab.untilVar(FILTER, 'query', value);
      expect(tab.latest(FILTER, 'matching')).toBe(0);
    }
    // A page number no page has: the nearest page, never an error or an empty page.
    for (const value of [0, -5, 1e9, 1.5]) {
      tab.send(`${FILTER}.setPage`, { value });
      tab.send(`${FILTER}.setQuery`, { value: `mark ${value}` });
      await tab.untilVar(FILTER, 'query', `mark ${value}`);
    }
    expect(tab.errors.filter((error) => error.code !== 'invalid_payload')).toEqual([]);
  });

  it('shows a product page of a product past the first page', async () => {
    const tab = await open('/product/1500');
    expect((tab.latest(FILTER, 'products') as Row[]).map((row) => row.name)).toEqual(['Product 1500']);
  });
});

describeWithPostgres('the shop catalogue filtered by Postgres', () => {
  let pg: PostgresTestServer;
  let app: INestApplication;
  const tabs: RawSocket[] = [];
  beforeAll(async () => {
    pg = await PostgresTestServer.launch();
    app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ DATABASE_URL: pg.connectionString })), { logger: false });
    mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
    await app.listen(0, '127.0.0.1');
  }, 120_000);
  afterAll(async () => {
    for (const tab of tabs) tab.close();
    await app?.close();
    await pg?.destroy();
  });

  it('matches names case-insensitively, with % _ and \\ as plain characters', async () => {
    const tab = await RawSocket.hydrated(`http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`, tabs);
    for (const [value, matching] of [['LAMP', 1], ['%', 0], ['_', 0], ['\\', 0], ['e', 8]] as const) {
      tab.send(`${FILTER}.setQuery`, { value });
      await tab.untilVar(FILTER, 'query', value);
      expect([value, tab.latest(FILTER, 'matching')]).toEqual([value, matching]);
    }
    expect(tab.errors).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { ProductService } from '../apps/shop/src/catalog/product.service.js';
import { SEARCH_LIMIT } from '../apps/shop/src/catalog/search-limit.js';
import { solidPng } from './support/png.js';
import fc from 'fast-check';
import { RawSocket } from './support/raw-socket.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

const CART = 'reflex___state____state.cart_state';
const FILTER = 'reflex___state____state.filter_state';
const ACCOUNT = 'reflex___state____state.account_state';
const STAFF = 'reflex___state____state.staff_state';

/** The shop as `main.ts` builds it, on a free loopback port, over `env` (SQLite in memory unless DATABASE_URL). */
async function startShop(env: Record<string, string>): Promise<{ app: INestApplication; url: string }> {
  const app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', ...env })), { logger: false });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/** A session cookie of a demo user (each login counts against the address's login limit: 5 a minute per app). */
async function login(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(response.status).toBe(200);
  return response.headers.get('set-cookie')!.split(';')[0];
}

/** The shop on embedded defaults, started before the tests of the enclosing `describe` and closed after them. */
function shopForTheseTests(): { app: INestApplication; url: string } {
  const shop = {} as { app: INestApplication; url: string };
  beforeAll(async () => {
    Object.assign(shop, await startShop({}));
  });
  afterAll(async () => {
    await shop.app?.close();
  });
  return shop;
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

  it('runs at most SEARCH_LIMIT catalogue searches a minute per address, whatever the sockets, and none of a person typing is refused', async () => {
    // Each filter event reads the database twice (a count and a page). Before, only the budget of each connection
    // (500 events per 10 s) bounded them: 5 sockets sending 80 searches each ran all 400.
    const products = app.get(ProductService);
    const page = products.page.bind(products);
    let reads = 0;
    products.page = (filter) => {
      reads++;
      return page(filter);
    };
    const tabs = await Promise.all([0, 1, 2, 3, 4].map(() => RawSocket.hydrated(url)));
    reads = 0; // the page loads' reads: not filter events
    try {
      // A person typing, one keystroke at a time: every one answered, none refused.
      const [person] = tabs;
      const typed = 'kitchen teapot';
      for (let i = 1; i <= typed.length; i++) {
        person.send(`${FILTER}.setQuery`, { value: typed.slice(0, i) });
        await person.untilVar(FILTER, 'query', typed.slice(0, i));
      }
      expect(person.errors).toEqual([]);

      const perSocket = 80; // under the 100 events one client may have waiting
      for (const tab of tabs) for (let i = 0; i < perSocket; i++) tab.send(`${FILTER}.setQuery`, { value: `flood ${i}` });
      const refused = () => tabs.reduce((sum, tab) => sum + tab.errors.filter((error) => error.code === 'rate_limited').length, 0);
      await tabs[0].until(() => reads + refused() >= typed.length + tabs.length * perSocket, 30_000, 'every search answered or refused');
      expect(reads).toBeLessThanOrEqual(SEARCH_LIMIT.limit);
      expect(refused()).toBeGreaterThanOrEqual(typed.length + tabs.length * perSocket - SEARCH_LIMIT.limit);
    } finally {
      for (const tab of tabs) tab.close();
      products.page = page;
    }
  });

  it("limits a catalogue page's load sent as an event as the searches, and still loads the page of a new tab", async () => {
    // FilterState.load is a handler too: sent as an event it read the categories and a page (3 queries) with no
    // limit but the connection's budget, whatever the search limit: 5 sockets sending 80 each ran all 400.
    const products = app.get(ProductService);
    const categories = products.categories.bind(products);
    let reads = 0;
    products.categories = () => {
      reads++;
      return categories();
    };
    const tabs = await Promise.all([0, 1, 2, 3, 4].map(() => RawSocket.hydrated(url)));
    reads = 0;
    try {
      const perSocket = 80;
      for (const tab of tabs) for (let i = 0; i < perSocket; i++) tab.send(`${FILTER}.load`);
      const refused = () => tabs.reduce((sum, tab) => sum + tab.errors.filter((error) => error.code === 'rate_limited').length, 0);
      await tabs[0].until(() => reads + refused() >= tabs.length * perSocket, 30_000, 'every load answered or refused');
      expect(reads).toBeLessThanOrEqual(SEARCH_LIMIT.limit);
      // A page opened now still loads its catalogue: the page's own on-load run is not an event of this handler.
      const fresh = await RawSocket.hydrated(url, tabs);
      await fresh.until(() => ((fresh.latest(FILTER, 'products') as unknown[] | undefined) ?? []).length > 0, undefined, 'the new tab\'s catalogue');
      expect(fresh.errors).toEqual([]);
    } finally {
      for (const tab of tabs) tab.close();
      products.categories = categories;
    }
  });
});

describeWithPostgres('the shop under hostile input (Postgres)', () => {
  let pg: PostgresTestServer;
  let app: INestApplication;
  let url: string;
  const tabs: RawSocket[] = [];
  beforeAll(async () => {
    pg = await PostgresTestServer.launch();
    ({ app, url } = await startShop({ DATABASE_URL: pg.connectionString }));
  }, 120_000);
  afterAll(async () => {
    for (const tab of tabs) tab.close();
    await app?.close();
    await pg?.destroy();
  });

  /** Sends `name` with `payload`, then a marker event of the same tab, and waits for the marker: the first was answered. */
  let marks = 0;
  const answered = async (tab: RawSocket, name: string, payload: Record<string, unknown>) => {
    tab.send(name, payload);
    const mark = `mark-${++marks}`;
    tab.send(`${FILTER}.setQuery`, { value: mark });
    await tab.untilVar(FILTER, 'query', mark);
  };

  it('answers cart events with product ids no product can have as invalid_payload, not as a database error', async () => {
    // Postgres refuses 1.5, 1e300 or 2^31 for an integer column: the query threw, the client got a handler_error
    // quoting the database ("QueryFailedError: value \"2147483648\" is out of range for type integer") and the
    // server logged an error with its stack, once per event any client cared to send.
    const tab = new RawSocket(url, undefined, { headers: { cookie: await login(url, 'demo', 'demo123') } });
    tabs.push(tab);
    await tab.connected();
    await tab.hydrate();
    const notAnId = fc.oneof(
      fc.double({ noNaN: true }).filter((value) => !Number.isInteger(value)),
      fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(2 ** 31, 2 ** 53, 1e300, -(2 ** 31) - 1, Number.MAX_VALUE),
    );
    await fc.assert(
      fc.asyncProperty(notAnId, fc.constantFrom('add', 'remove'), async (productId, handler) => {
        const before = tab.errors.length;
        await answered(tab, `${CART}.${handler}`, { productId });
        expect(tab.errors.slice(before).map((error) => error.code)).toEqual(['invalid_payload']);
      }),
      { numRuns: 60 },
    );
    expect(tab.latest(CART, 'lines') ?? []).toEqual([]);
  });

  it('answers staff changes to a product id or price Postgres cannot hold with 404 or 400, not 500', async () => {
    const staff = await login(url, 'staff', 'staff123');
    const patch = (path: string, body: unknown) =>
      fetch(`${url}/staff/products/${path}`, { method: 'PATCH', headers: { cookie: staff, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((response) => response.status);
    expect(await patch('99999999999', { price: 100 })).toBe(404);
    expect(await patch('1', { price: 2 ** 31 })).toBe(400);
    const created = await fetch(`${url}/staff/products`, {
      method: 'POST',
      headers: { cookie: staff, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Gold tin', category: 'kitchen', price: 1e20 }),
    });
    expect(created.status).toBe(400);
  });

  it('answers text with a NUL character (which Postgres refuses in any text) as a client error, not a 500 or handler_error', async () => {
    // Postgres refuses U+0000 in a text parameter ("invalid byte sequence for encoding UTF8: 0x00"): a login with
    // such a username was a 500 over HTTP and a handler_error over events, and a staff product name a 500.
    const http = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'de\u0000mo', password: 'demo123' }),
    });
    expect(http.status).toBe(401);

    const tab = new RawSocket(url);
    tabs.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${ACCOUNT}.login`, { username: 'demo\u0000', password: 'demo123' });
    await tab.until(() => String(tab.latest(ACCOUNT, 'loginError') ?? '').length > 0 || tab.errors.length > 0, undefined, 'the login answered');
    expect(tab.errors).toEqual([]);
    expect(tab.latest(ACCOUNT, 'loginError')).toBe('Unknown user or wrong password.');

    const staff = await login(url, 'staff', 'staff123');
    const created = await fetch(`${url}/staff/products`, {
      method: 'POST',
      headers: { cookie: staff, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Tea\u0000pot', category: 'kitchen', price: 100 }),
    });
    expect(created.status).toBe(400);
  });
});

describe('the shop under hostile input (PROFILE=reflex_only: events without a request)', () => {
  let app: INestApplication;
  let url: string;
  let uploadDir: string;
  beforeAll(async () => {
    uploadDir = await mkdtemp(join(tmpdir(), 'shop-hostile-uploads-'));
    ({ app, url } = await startShop({ PROFILE: 'reflex_only', UPLOAD_DIR: uploadDir }));
  });
  afterAll(async () => {
    await app?.close();
    if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
  });

  /** A buffered upload of a 1×1 PNG to `handler`, from `tab` (no session: none exists under reflex_only). */
  const uploadPng = (tab: RawSocket, handler: string, args?: unknown) => {
    const body = new FormData();
    if (args !== undefined) body.append('__reflex_event_args', JSON.stringify(args));
    body.append('files', new Blob([new Uint8Array(solidPng(1, [200, 0, 0]))], { type: 'image/png' }), 'x.png');
    return fetch(`${url}/_upload`, { method: 'POST', headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': handler }, body });
  };

  it("refuses a guest's product picture and avatar: no guard runs on tier none, so the handlers check who asks", async () => {
    // Every event runs on tier none here, whatever the guards say: StaffState.attachImage, staff only elsewhere, let
    // any visitor replace any product's picture for every open page; uploadAvatar threw a TypeError (handler_error).
    const tab = new RawSocket(url);
    try {
      await tab.connected();
      await tab.hydrate();
      const picture = await uploadPng(tab, `${STAFF}.attachImage`, { productId: 1 });
      expect(picture.status).toBe(403);
      const avatar = await uploadPng(tab, `${ACCOUNT}.uploadAvatar`);
      expect(avatar.status).toBe(401);
      expect((await app.get(ProductService).find(1))?.image).toBe('');
      expect(await readdir(uploadDir, { recursive: true }).then((names) => names.filter((name) => /\.(png|jpg|gif|webp)$/.test(name)))).toEqual([]);
    } finally {
      tab.close();
    }
  });

  it("answers the account's handlers without a handler_error: there is no session, so nothing to log out of", async () => {
    // logout read `request.user` of an undefined request: a TypeError per event, logged with its stack.
    const tab = new RawSocket(url);
    try {
      await tab.connected();
      await tab.hydrate();
      for (const handler of ['logout', 'refresh', 'logout']) {
        tab.send(`${ACCOUNT}.${handler}`);
        tab.send(`${FILTER}.setQuery`, { value: handler });
        await tab.untilVar(FILTER, 'query', handler);
      }
      tab.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
      await tab.until(() => String(tab.latest(ACCOUNT, 'loginError') ?? '').length > 0 || tab.errors.length > 0);
      expect(tab.errors).toEqual([]);
    } finally {
      tab.close();
    }
  });
});

describe("the shop's cart on a shared machine: one tab, one user after another", () => {
  const shop = shopForTheseTests();

  const productIds = (tab: RawSocket) => ((tab.latest(CART, 'lines') as Array<{ productId: number }> | undefined) ?? []).map((line) => line.productId);

  it("shows the cart only to the user who filled it, and starts the next user's cart empty", async () => {
    // The tab's state outlives a logout (the token follows the tab): the cart went on showing the last user's lines to
    // whoever used the browser next, and the next user's additions landed in that cart.
    const tab = new RawSocket(shop.url);
    try {
      await tab.connected();
      await tab.hydrate();
      tab.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
      await tab.untilVar(ACCOUNT, 'username', 'demo');
      tab.send(`${CART}.add`, { productId: 1 });
      await tab.until(() => productIds(tab).join() === '1', undefined, "demo's cart line");

      tab.send(`${ACCOUNT}.logout`);
      await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
      await tab.until(() => productIds(tab).length === 0, undefined, 'the cart hidden after the logout');
      expect(tab.latest(CART, 'count')).toBe(0);

      tab.send(`${ACCOUNT}.login`, { username: 'staff', password: 'staff123' });
      await tab.untilVar(ACCOUNT, 'username', 'staff');
      tab.send(`${CART}.add`, { productId: 2 });
      await tab.until(() => productIds(tab).includes(2), undefined, "staff's cart line");
      expect(productIds(tab)).toEqual([2]);
      expect(tab.latest(CART, 'total')).toBe(4500);
      expect(tab.errors).toEqual([]);
    } finally {
      tab.close();
    }
  });
});

describe("the shop's logout, sent by many tabs of one session at once", () => {
  const shop = shopForTheseTests();

  it('stores no session per tab: one logout regenerates the session, and every tab ends logged out', async () => {
    // passport's logout regenerates the session and express-session stores the new, empty one for a day: 20 tabs of
    // one login sending logout together stored 20 sessions, of which the browser keeps one (hundreds per login for
    // a client opening hundreds of sockets).
    const store = shop.app.get<AuthMiddleware>(AUTH_MIDDLEWARE).store;
    const sessions = () => new Promise<number>((resolve, reject) => store.length!((error, count) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(count ?? 0))));
    const cookie = await login(shop.url, 'demo', 'demo123');
    const tabs: RawSocket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const tab = new RawSocket(shop.url, undefined, { headers: { cookie } });
        tabs.push(tab);
        await tab.connected();
        await tab.hydrate();
        tab.send(`${ACCOUNT}.refresh`);
        await tab.untilVar(ACCOUNT, 'isAuthenticated', true);
      }
      const before = await sessions();
      for (const tab of tabs) tab.send(`${ACCOUNT}.logout`);
      await Promise.all(tabs.map((tab) => tab.untilVar(ACCOUNT, 'isAuthenticated', false)));
      expect(tabs.flatMap((tab) => tab.errors)).toEqual([]);
      // The logged-in session is gone and one new one took its place (its cookie handed to the tab that ran the logout).
      expect(await sessions()).toBe(before);
      const me = await fetch(`${shop.url}/auth/me`, { headers: { cookie } });
      expect(await me.json()).toEqual({ user: null });
    } finally {
      for (const tab of tabs) tab.close();
    }
  });
});

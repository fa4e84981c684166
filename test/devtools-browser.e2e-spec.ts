/**
 * The devtools page in a real browser (Debian's Chromium driven by playwright-core): the shop runs with DEVTOOLS=1,
 * the page is opened, events sent by a tab arrive in its table as they happen, a filter narrows it, a click opens
 * one event's waterfall (the shop's middleware and the cart's guard by name, the handler, its SQL query), and a
 * screenshot is saved under .tmp/. The overlay script shows the latest event on any page.
 *
 * Chromium is expected at /usr/bin/chromium (or CHROMIUM_BIN). Without it the spec is skipped, except under
 * CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { createServer, get as httpGet, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumMissing } from './support/chromium.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = 'reflex___state____state';
const LIKES = `${ROOT}.likes_state`;
const CART = `${ROOT}.cart_state`;
const ACCOUNT = `${ROOT}.account_state`;

const isCI = process.env.CI === 'true';
const missingChromium = chromiumMissing();

const rowHandlers = (page: Page): Promise<string[]> => page.locator('#rows td.handler').allInnerTexts();

if (missingChromium && isCI) {
  describe('devtools in a real browser', () => {
    it('needs Chromium under CI=true', () => {
      throw new Error(`${missingChromium}. CI=true: the browser spec must run.`);
    });
  });
} else {
  (missingChromium ? describe.skip : describe)('devtools in a real browser (Chromium, the shop with DEVTOOLS=1)', () => {
    let app: INestApplication;
    let base: string;
    let browser: Browser | undefined;
    let page: Page;
    let tab: RawSocket;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', DEVTOOLS: '1' })), { logger: ['error'] });
      app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
      mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
      await app.listen(0, '127.0.0.1');
      base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS });
      page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
      tab = new RawSocket(base);
      await tab.connected();
      await tab.hydrate();
    }, 60_000);

    afterAll(async () => {
      tab?.close();
      await browser?.close();
      await app?.close();
    });

    it('streams events into the table as they happen, filters them, and opens a waterfall', async () => {
      await page.goto(`${base}/_bridge/devtools`);
      await eventually('the stream to be live', () => page.locator('#status').innerText(), (status) => status === 'live');

      // Events sent after the page opened arrive through the stream.
      tab.send(`${LIKES}.like`);
      tab.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
      await tab.untilVar(ACCOUNT, 'isAuthenticated', true, 20_000);
      tab.send(`${CART}.add`, { productId: 1 });
      tab.send(`${CART}.add`, { productId: 2 });
      tab.send(`${LIKES}.like`);
      const handlers = await eventually('the events in the table', () => rowHandlers(page), (rows) => rows.filter((row) => row === 'cart_state.add').length === 2 && rows.filter((row) => row === 'likes_state.like').length === 2);
      expect(handlers[0]).toBe('likes_state.like');

      // Filter by tier: only the none-tier likes remain.
      await page.selectOption('#f-tier', 'none');
      expect(new Set(await page.locator('#rows .tier').allInnerTexts())).toEqual(new Set(['none']));
      expect(await rowHandlers(page)).toContain('likes_state.like');
      expect(await rowHandlers(page)).not.toContain('cart_state.add');
      await page.selectOption('#f-tier', '');
      await page.fill('#f-handler', 'cart_state');
      expect(new Set(await rowHandlers(page))).toEqual(new Set(['cart_state.add']));

      // The waterfall of one cart event: the auth chain by name, the guard by class name, the handler, its query.
      await page.locator('#rows tr').first().click();
      const labels = await page.locator('.waterfall .label').allInnerTexts();
      for (const label of ['session', 'initialize', 'authenticate', 'LoggedInGuard', 'handler', 'delta', 'session save & end', 'total']) expect(labels).toContain(label);
      expect(labels.some((label) => /SELECT/i.test(label))).toBe(true);
      expect(await page.locator('.facts').innerText()).toMatch(/full\s+bridge\.mode "full"/);
      expect(await page.locator('.facts').innerText()).toContain('demo');
      await page.fill('#f-handler', '');

      mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
      await page.screenshot({ path: join(repoRoot, '.tmp', 'devtools-page.png') });
      expect(pageErrors).toEqual([]);
    }, 90_000);

    it('the overlay script shows the latest event on any page', async () => {
      const other = await page.context().newPage();
      await other.route(`${base}/overlay-host`, (route) => route.fulfill({ contentType: 'text/html', body: `<!doctype html><h1>App</h1><script src="/_bridge/devtools/overlay.js"></script>` }));
      await other.goto(`${base}/overlay-host`);
      tab.send(`${LIKES}.like`);
      const text = await eventually('the overlay to show a like', () => other.locator('a[title^="ReflexBridge devtools"]').innerText(), (value) => value.includes('likes_state.like'));
      expect(text).toMatch(/none\s*likes_state\.like · [\d.]+ ms · 0 q/);
      await other.close();
    }, 60_000);

    it('the overlay on a frontend served from a listed origin (Reflex\'s dev set-up) loads, shows events and opens the page', async () => {
      // The frontend on its own dev server (another port of localhost), the app on another, the frontend in corsOrigins.
      const frontendServer = createServer((_req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><h1>Frontend</h1><script src="${app2}/_bridge/devtools/overlay.js"></script>`);
      });
      await new Promise<void>((resolve) => frontendServer.listen(0, '127.0.0.1', resolve));
      const frontend = `http://localhost:${(frontendServer.address() as AddressInfo).port}`;
      const split = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', DEVTOOLS: '1', FRONTEND_ORIGINS: frontend })), { logger: ['error'] });
      mountHttpRoutes(split, split.get<AuthMiddleware>(AUTH_MIDDLEWARE));
      await split.listen(0, '127.0.0.1');
      const app2 = `http://localhost:${(split.getHttpServer().address() as AddressInfo).port}`;
      const context = await browser!.newContext();
      const splitTab = new RawSocket(app2.replace('localhost', '127.0.0.1'));
      try {
        const host = await context.newPage();
        await host.goto(`${frontend}/`);
        await splitTab.connected();
        await splitTab.hydrate();
        splitTab.send(`${LIKES}.like`);
        const box = host.locator('a[title^="ReflexBridge devtools"]');
        await eventually('the overlay to show the like', () => box.innerText(), (value) => value.includes('likes_state.like'));
        // A click opens the devtools page (a navigation from the frontend's site).
        const [opened] = await Promise.all([context.waitForEvent('page'), box.click()]);
        await opened.waitForLoadState();
        expect(await opened.locator('h1').innerText()).toBe('ReflexBridge devtools');
      } finally {
        splitTab.close();
        await context.close();
        await split.close();
        frontendServer.close();
      }
    }, 90_000);

    it('the overlay in 8 tabs holds one stream, so tabs beyond the browser\'s 6 connections per host still load and show events', async () => {
      // Over HTTP/1.1 a browser opens at most 6 connections per host, for all its tabs, and each event stream holds
      // one: with a stream per tab, the 7th tab of the app could load nothing from it.
      const server = app.getHttpServer() as Server;
      let openStreams = 0;
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (!req.url?.startsWith('/_bridge/devtools/stream')) return;
        openStreams++;
        res.on('close', () => openStreams--);
      };
      server.on('request', onRequest);
      const context = await browser!.newContext();
      try {
        const tabs: Page[] = [];
        for (let i = 0; i < 8; i++) {
          const tabPage = await context.newPage();
          await tabPage.route(`${base}/overlay-host`, (route) => route.fulfill({ contentType: 'text/html', body: `<!doctype html><h1>App</h1><script src="/_bridge/devtools/overlay.js"></script>` }));
          await tabPage.goto(`${base}/overlay-host`);
          tabs.push(tabPage);
        }
        await eventually('an overlay following the stream', () => Promise.resolve(openStreams), (open) => open >= 1);
        tab.send(`${ACCOUNT}.logout`);
        for (const [index, tabPage] of tabs.entries()) {
          await eventually(`tab ${index + 1}'s overlay to show the logout`, () => tabPage.locator('a[title^="ReflexBridge devtools"]').innerText(), (value) => value.includes('account_state.logout'));
        }
        expect(openStreams).toBe(1);
        // The tab holding the stream closes: another one takes it over.
        await tabs[0].close();
        tab.send(`${LIKES}.like`);
        await eventually("tab 8's overlay to show the like", () => tabs[7].locator('a[title^="ReflexBridge devtools"]').innerText(), (value) => value.includes('likes_state.like'));
        await eventually('one stream after the takeover', () => Promise.resolve(openStreams), (open) => open === 1);
      } finally {
        await context.close();
        server.off('request', onRequest);
      }
    }, 90_000);

    it('the overlay in 8 tabs of a page that is not a secure context (no Web Locks) still holds one stream, handed over when its tab closes', async () => {
      // The frontend opened by a name over http (as by a LAN address): not a secure context, so no navigator.locks.
      // Before, each tab followed the stream itself, and past 6 tabs the app could load nothing more in that browser.
      const frontendServer = createServer((_req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><h1>Frontend</h1><script src="${lanApp}/_bridge/devtools/overlay.js"></script>`);
      });
      await new Promise<void>((resolve) => frontendServer.listen(0, '127.0.0.1', resolve));
      const frontend = `http://lan.test:${(frontendServer.address() as AddressInfo).port}`;
      const lan = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:', DEVTOOLS: '1', FRONTEND_ORIGINS: frontend })), { logger: ['error'] });
      mountHttpRoutes(lan, lan.get<AuthMiddleware>(AUTH_MIDDLEWARE));
      await lan.listen(0, '127.0.0.1');
      const lanApp = `http://127.0.0.1:${(lan.getHttpServer().address() as AddressInfo).port}`;
      let openStreams = 0;
      let closedStreams = 0;
      (lan.getHttpServer() as Server).on('request', (req: IncomingMessage, res: ServerResponse) => {
        if (!req.url?.startsWith('/_bridge/devtools/stream')) return;
        openStreams++;
        res.on('close', () => {
          openStreams--;
          closedStreams++;
        });
      });
      const lanBrowser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP lan.test 127.0.0.1'] });
      const lanTab = new RawSocket(lanApp);
      try {
        const context = await lanBrowser.newContext();
        const tabs: Page[] = [];
        for (let i = 0; i < 8; i++) {
          const tabPage = await context.newPage();
          await tabPage.goto(`${frontend}/`);
          tabs.push(tabPage);
        }
        expect(await tabs[0].evaluate(() => [isSecureContext, 'locks' in navigator])).toEqual([false, false]);
        await eventually('an overlay following the stream', () => Promise.resolve(openStreams), (open) => open >= 1);
        await lanTab.connected();
        await lanTab.hydrate();
        lanTab.send(`${ACCOUNT}.logout`);
        for (const [index, tabPage] of tabs.entries()) {
          await eventually(`tab ${index + 1}'s overlay to show the logout`, () => tabPage.locator('a[title^="ReflexBridge devtools"]').innerText(), (value) => value.includes('account_state.logout'));
        }
        expect(openStreams).toBe(1);
        // The first tab took the lease as its script ran, before the second page loaded: it holds the stream. It
        // closes: another one takes the stream over.
        await tabs[0].close({ runBeforeUnload: true });
        await eventually('the first tab\'s stream to close', () => Promise.resolve(closedStreams), (closed) => closed === 1, 30_000);
        await eventually('another tab to take the stream over', () => Promise.resolve(openStreams), (open) => open === 1, 30_000);
        lanTab.send(`${LIKES}.like`);
        await eventually("tab 8's overlay to show the like", () => tabs[7]!.locator('a[title^="ReflexBridge devtools"]').innerText(), (value) => value.includes('likes_state.like'), 30_000);
        expect(openStreams).toBe(1);
      } finally {
        lanTab.close();
        await lanBrowser.close();
        await lan.close();
        frontendServer.close();
      }
    }, 120_000);

    it('says the stream was refused when its address has devtools.maxStreamsPerAddress open, instead of "reconnecting…" for good', async () => {
      // Streams from this machine's address until the server refuses one: the page's own then is one too many.
      const held: IncomingMessage[] = [];
      const context = await browser!.newContext();
      try {
        for (;;) {
          const response = await new Promise<IncomingMessage>((ok, fail) => httpGet(`${base}/_bridge/devtools/stream`, ok).on('error', fail));
          held.push(response);
          if (response.statusCode !== 200) break;
        }
        expect(held.at(-1)!.statusCode).toBe(429);
        const refused = await context.newPage();
        await refused.goto(`${base}/_bridge/devtools`);
        // An EventSource answered 429 does not connect again: before, the page said "reconnecting…" forever.
        await eventually('the refusal on the page', () => refused.locator('#status').innerText(), (status) => status.includes('refused'));
      } finally {
        for (const response of held) response.destroy();
        await context.close();
      }
    }, 60_000);

    it('follows the stream again once a refusal is over, trying every 30 s as the overlay does, instead of asking for a reload', async () => {
      const held: IncomingMessage[] = [];
      const context = await browser!.newContext();
      // The page's timers run on a clock the test moves: the 30 s retry is waited for without waiting 30 s.
      await context.clock.install();
      try {
        for (;;) {
          const response = await new Promise<IncomingMessage>((ok, fail) => httpGet(`${base}/_bridge/devtools/stream`, ok).on('error', fail));
          held.push(response);
          if (response.statusCode !== 200) break;
        }
        const refused = await context.newPage();
        await refused.goto(`${base}/_bridge/devtools`);
        const status = () => refused.locator('#status').innerText();
        await eventually('the refusal on the page', status, (text) => text.includes('refused'));
        // Before: "close other devtools tabs, then reload", and the page never tried again by itself.
        expect(await status()).toMatch(/trying again every 30 s/i);
        expect(await status()).not.toMatch(/reload/);
        for (const response of held.splice(0)) response.destroy();
        // Until the next try the page still says refused; then it follows the stream.
        await refused.clock.fastForward(30_000);
        await eventually('the stream followed again', status, (text) => text === 'live');
        const rows = () => refused.locator('#rows tr').count();
        const before = await rows();
        tab.send(`${LIKES}.like`);
        await eventually('an event streamed after the retry', rows, (count) => count > before);
      } finally {
        for (const response of held) response.destroy();
        await context.close();
      }
    }, 60_000);

    it('says how many older events the first load left out (GET /events answers at most 4 MiB), instead of showing fewer rows silently', async () => {
      const context = await browser!.newContext();
      try {
        const other = await context.newPage();
        // The server leaves events out when the held ones pass 4 MiB of JSON (devtools-hostile checks that): here the
        // page gets a real answer with such a count added.
        await other.route(`${base}/_bridge/devtools/events?limit=500`, async (route) => {
          const real = (await (await route.fetch()).json()) as Record<string, unknown>;
          await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ ...real, omitted: 37 }) });
        });
        await other.goto(`${base}/_bridge/devtools`);
        await eventually('the notice of the events left out', () => other.locator('#omitted').innerText(), (text) => text.includes('37 older events'));
      } finally {
        await context.close();
      }
    }, 60_000);

    it('the overlay says its stream was refused when its address has devtools.maxStreamsPerAddress open, instead of "waiting for an event" for good', async () => {
      const held: IncomingMessage[] = [];
      const context = await browser!.newContext();
      try {
        for (;;) {
          const response = await new Promise<IncomingMessage>((ok, fail) => httpGet(`${base}/_bridge/devtools/stream`, ok).on('error', fail));
          held.push(response);
          if (response.statusCode !== 200) break;
        }
        expect(held.at(-1)!.statusCode).toBe(429);
        const tabPage = await context.newPage();
        await tabPage.route(`${base}/overlay-host`, (route) => route.fulfill({ contentType: 'text/html', body: `<!doctype html><h1>App</h1><script src="/_bridge/devtools/overlay.js"></script>` }));
        await tabPage.goto(`${base}/overlay-host`);
        // Before, the overlay showed the latest event (or "waiting for an event") and never anything newer, silently.
        const overlay = tabPage.locator('a[title^="ReflexBridge devtools"]');
        await eventually('the refusal in the overlay', () => overlay.innerText(), (text) => text.includes('refused'));
        expect(await overlay.getAttribute('title')).toMatch(/maxStreamsPerAddress|too many/);
      } finally {
        for (const response of held) response.destroy();
        await context.close();
      }
    }, 60_000);
  });
}

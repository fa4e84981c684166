/**
 * The example shop in each profile (`PROFILE`: integrated, reflex_only, split_dev), in a real browser (Debian's
 * Chromium driven by playwright-core): what a user notices in each.
 *
 * The spec builds the monorepo and the shop's web app once (`buildShop`), then starts the built shop
 * (`apps/shop/dist/main.js`, a {@link ShopWorker} on embedded defaults: SQLite in memory, in-memory sessions) once per
 * profile. `split_dev` also starts a real Vite dev server on apps/shop/web with its own vite.config.ts (a child
 * process, as `npm run dev:web` would), and the shop proxies its frontend and HMR socket to it.
 *
 * Chromium is expected at /usr/bin/chromium (`bash scripts/install-test-deps.sh`, or set CHROMIUM_BIN). Without it the
 * spec is skipped, except under CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Response, type WebSocket } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumMissing } from './support/chromium.js';
import { buildShop, ShopWorker } from './support/shop-workers.js';
import { shopPageHelpers } from './support/shop-page.js';
import { startViteDevServer, type ViteDevServer } from './support/vite-dev-server.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHOP_VITE_CONFIG = join(repoRoot, 'apps', 'shop', 'web', 'vite.config.ts');

const STEP_TIMEOUT_MS = 20_000;
/** Vite's first page load discovers and pre-bundles the app's dependencies (and may reload the page once). */
const VITE_FIRST_LOAD_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;

const isCI = process.env.CI === 'true';
const missingChromium = chromiumMissing();
if (missingChromium && !isCI) console.warn(`skipping the shop profiles browser spec: ${missingChromium}`);

const { eventually, waitForText, waitForProducts, logIn, addToCart } = shopPageHelpers(STEP_TIMEOUT_MS);
const text = (page: Page, selector: string): Promise<string> => page.locator(selector).innerText();

/** A page in a fresh browser context (its own cookies and tab token), with its page errors collected. */
async function newPage(browser: Browser, errors: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (error) => errors.push(String(error)));
  return { context, page };
}

/** Starts the built shop in this profile, on embedded defaults. */
function startShop(profile: string, env: Record<string, string> = {}): Promise<ShopWorker> {
  return ShopWorker.start(`shop-${profile}`, { env: { PROFILE: profile, REDIS_URL: undefined, DATABASE_URL: undefined, ...env } });
}

if (missingChromium && isCI) {
  describe('shop profiles in a real browser', () => {
    it('needs Chromium under CI=true', () => {
      throw new Error(`${missingChromium}. CI=true: the browser spec must run.`);
    });
  });
} else {
  (missingChromium ? describe.skip : describe)('the shop in each profile (Chromium + apps/shop/dist/main.js)', () => {
    let browser: Browser | undefined;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      await buildShop();
      browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS, timeout: 60_000 });
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      if (pageErrors.length > 0) console.warn(`page errors during the shop profiles spec:\n${pageErrors.join('\n')}`);
    }, 60_000);

    describe('PROFILE=integrated (the built SPA, the app pipeline around events)', () => {
      let shop: ShopWorker | undefined;
      let context: BrowserContext;
      let page: Page;
      const responses: Response[] = [];

      beforeAll(async () => {
        shop = await startShop('integrated');
        ({ context, page } = await newPage(browser!, pageErrors));
        page.on('response', (response) => responses.push(response));
      }, 120_000);

      afterAll(async () => {
        await context?.close();
        await shop?.stop();
      }, 60_000);

      it(
        'a deep link to /cart opened directly shows the cart page',
        async () => {
          const answer = await page.goto(`${shop!.url}/cart`, { waitUntil: 'domcontentloaded' });
          expect(answer?.status()).toBe(200);
          await page.getByTestId('cart-page').waitFor();
          expect(new URL(page.url()).pathname).toBe('/cart');
          await waitForText(page, '#status', 'Not signed in');
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'the catalogue renders 8 products; logged in as demo, "Add to cart" puts the product in the cart',
        async () => {
          await page.goto(`${shop!.url}/`, { waitUntil: 'domcontentloaded' });
          await waitForProducts(page, 8);
          await waitForText(page, '#status', 'Not signed in');
          await logIn(page, 'demo', 'demo123');
          await addToCart(page, 'Desk lamp');
          await waitForText(page, '#cart-count', '1');
          expect(await page.locator('#cart-lines').innerText()).toContain('Desk lamp');
          expect(await text(page, '#cart-error')).toBe('');
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'the browser got the page with no-cache and a hashed asset with immutable caching',
        async () => {
          const documentResponse = responses.find((response) => response.request().resourceType() === 'document' && new URL(response.url()).pathname === '/');
          expect(documentResponse).toBeDefined();
          expect(documentResponse!.headers()['cache-control']).toBe('no-cache');

          const asset = responses.find((response) => /^\/assets\/.+-[\w-]{6,}\.(js|css)$/.test(new URL(response.url()).pathname));
          expect(asset).toBeDefined();
          expect(asset!.status()).toBe(200);
          expect(asset!.headers()['cache-control']).toMatch(/\bimmutable\b/);
          expect(asset!.headers()['cache-control']).toMatch(/max-age=31536000/);
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe('PROFILE=reflex_only (the built SPA, events without the app pipeline)', () => {
      let shop: ShopWorker | undefined;
      let context: BrowserContext;
      let page: Page;

      beforeAll(async () => {
        shop = await startShop('reflex_only');
        ({ context, page } = await newPage(browser!, pageErrors));
      }, 120_000);

      afterAll(async () => {
        await context?.close();
        await shop?.stop();
      }, 60_000);

      it(
        'serves the page; the catalogue renders and filters (FilterState on tier none)',
        async () => {
          const answer = await page.goto(`${shop!.url}/`, { waitUntil: 'domcontentloaded' });
          expect(answer?.status()).toBe(200);
          await waitForProducts(page, 8);
          await page.locator('#query').pressSequentially('lamp', { delay: 30 });
          await waitForProducts(page, 1);
          expect(await page.locator('#products > li').first().innerText()).toContain('Desk lamp');
          await page.locator('#query').fill('');
          await waitForProducts(page, 8);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'the login form says logging in is not available: the login event has no request, so no session',
        async () => {
          await page.locator('#login-form button[type="submit"]').click();
          await waitForText(page, '#login-error', 'Logging in is not available here: events run without the session (reflex_only).');
          expect(await text(page, '#status')).toBe('Not signed in');
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'logged in over HTTP, the page still shows no user, and the cart runs without its login guard: events never ran the pipeline',
        async () => {
          // The HTTP side has the app's session and passport: the login works and /auth/me knows the user.
          const login = await page.evaluate(async () => {
            const response = await fetch('/auth/login', {
              method: 'POST',
              credentials: 'same-origin',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ username: 'demo', password: 'demo123' }),
            });
            return { status: response.status, body: (await response.json()) as unknown };
          });
          expect(login).toEqual({ status: 200, body: { username: 'demo' } });
          const me = await page.evaluate(async () => (await (await fetch('/auth/me', { credentials: 'same-origin' })).json()) as unknown);
          expect(me).toEqual({ user: 'demo' });

          // The page, reloaded with that session cookie: its events run on tier none, with no session or user.
          await page.reload({ waitUntil: 'domcontentloaded' });
          await waitForProducts(page, 8);
          await waitForText(page, '#status', 'Not signed in');
          expect(await page.locator('#login-form').isVisible()).toBe(true);
          // Tier none applies no guards (the module warns so at startup): the cart's LoggedInGuard, which refuses
          // "Please log in first." in the other profiles, never runs, and the add goes through with no user.
          await addToCart(page, 'Espresso cup');
          await waitForText(page, '#cart-count', '1');
          expect(await text(page, '#cart-error')).toBe('');
          expect(await text(page, '#status')).toBe('Not signed in');
        },
        TEST_TIMEOUT_MS,
      );
    });

    describe("PROFILE=split_dev (Vite's dev server on apps/shop/web behind the shop's port)", () => {
      let vite: ViteDevServer | undefined;
      let shop: ShopWorker | undefined;
      let context: BrowserContext;
      let page: Page;
      const sockets: WebSocket[] = [];
      const closed = new Set<WebSocket>();
      /** Frames each socket received, as text. */
      const received = new Map<WebSocket, string[]>();

      beforeAll(async () => {
        vite = await startViteDevServer({ configFile: SHOP_VITE_CONFIG });
        shop = await startShop('split_dev', { VITE_DEV_URL: vite.url });
        ({ context, page } = await newPage(browser!, pageErrors));
        page.on('websocket', (socket) => {
          sockets.push(socket);
          received.set(socket, []);
          socket.on('framereceived', (frame) => received.get(socket)!.push(String(frame.payload)));
          socket.on('close', () => closed.add(socket));
        });
      }, 240_000);

      afterAll(async () => {
        await context?.close();
        await shop?.stop();
        await vite?.close();
      }, 60_000);

      it(
        "the shop's port answers with Vite's dev page, which renders the catalogue over the shop's /_event",
        async () => {
          const answer = await page.goto(`${shop!.url}/`, { waitUntil: 'domcontentloaded' });
          expect(answer?.status()).toBe(200);
          expect(await answer!.text()).toContain('/@vite/client');
          // Vite's first load pre-bundles the dependencies and may reload the page once: wait for the result only.
          await waitForProducts(page, 8, VITE_FIRST_LOAD_MS);
          await waitForText(page, '#status', 'Not signed in', VITE_FIRST_LOAD_MS);
          const shopOrigin = new URL(shop!.url).host;
          const eventSockets = sockets.filter((socket) => {
            const url = new URL(socket.url());
            return url.host === shopOrigin && url.pathname.startsWith('/_event');
          });
          expect(eventSockets.some((socket) => !closed.has(socket))).toBe(true);
          // The page's modules came from Vite through the shop: its source, not the build's hashed assets.
          const scripts = await page.evaluate(() => performance.getEntriesByType('resource').map((entry) => entry.name));
          expect(scripts.some((name) => name.startsWith(`${shop!.url}/src/main.tsx`))).toBe(true);
          expect(scripts.every((name) => !name.startsWith(vite!.url))).toBe(true);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        "Vite's HMR socket connected through the shop's origin and stays open",
        async () => {
          const shopOrigin = new URL(shop!.url).host;
          const isHmr = (socket: WebSocket): boolean => {
            const url = new URL(socket.url());
            return url.host === shopOrigin && !url.pathname.startsWith('/_event') && url.searchParams.has('token');
          };
          const open = await eventually(
            'an open HMR socket to the shop whose first frame is Vite\'s "connected"',
            () => sockets.filter((socket) => isHmr(socket) && !closed.has(socket)),
            (hmr) => hmr.some((socket) => received.get(socket)!.some((frame) => frame.includes('"type":"connected"'))),
            VITE_FIRST_LOAD_MS,
          );
          expect(open.length).toBeGreaterThanOrEqual(1);
          // No socket went to Vite's own port: the page only ever knew the shop's origin.
          expect(sockets.filter((socket) => new URL(socket.url()).host === new URL(vite!.url).host)).toEqual([]);
        },
        TEST_TIMEOUT_MS,
      );

      it(
        'a deep link to /product/2 shows that product',
        async () => {
          const answer = await page.goto(`${shop!.url}/product/2`, { waitUntil: 'domcontentloaded' });
          expect(answer?.status()).toBe(200);
          expect(await answer!.text()).toContain('/@vite/client');
          await waitForText(page, '[data-testid="product-name"]', 'Pour-over kettle', VITE_FIRST_LOAD_MS);
          expect(await page.getByTestId('product-page').innerText()).toContain('45.00');
        },
        TEST_TIMEOUT_MS,
      );
    });
  });
}

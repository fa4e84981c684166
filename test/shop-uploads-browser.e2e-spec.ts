/**
 * The shop's uploads in a real browser (Debian's Chromium driven by playwright-core): what a user notices.
 *
 * The spec builds the monorepo, starts the built shop (`apps/shop/dist/main.js`, embedded SQLite in memory,
 * in-memory sessions, its upload directory in a temp dir) and drives the page: a shopper logs in with the form and
 * picks an avatar with the page's file input, which then shows in the header; a staff member, in another browser
 * context, attaches a picture to a product with its file input, and the picture appears in the shopper's catalogue
 * as a live update, without a reload.
 *
 * Chromium is expected at /usr/bin/chromium (`bash scripts/install-test-deps.sh`, or set CHROMIUM_BIN). Without it the
 * spec is skipped, except under CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumMissing } from './support/chromium.js';
import { solidPng } from './support/png.js';
import { shopPageHelpers } from './support/shop-page.js';
import { buildShop, ShopWorker } from './support/shop-workers.js';

const STEP_TIMEOUT_MS = 20_000;
const TEST_TIMEOUT_MS = 120_000;

const isCI = process.env.CI === 'true';
const missingChromium = chromiumMissing();
if (missingChromium && !isCI) console.warn(`skipping the shop uploads browser spec: ${missingChromium}`);

const { eventually, openShop, logIn } = shopPageHelpers(STEP_TIMEOUT_MS);

interface ImageSeen {
  src: string | null;
  hidden: boolean;
  complete: boolean;
  naturalWidth: number;
}

/** What the page shows for the first `<img>` matching `selector` (`null` while there is none). */
function imageSeen(page: Page, selector: string): Promise<ImageSeen | null> {
  return page.evaluate((sel) => {
    const image = document.querySelector<HTMLImageElement>(sel);
    if (!image) return null;
    return { src: image.getAttribute('src'), hidden: Boolean(image.hidden), complete: image.complete, naturalWidth: image.naturalWidth };
  }, selector);
}

/** Waits until the image under `selector` points at a URL matching `url` and the browser decoded it. */
function waitForLoadedImage(page: Page, selector: string, url: RegExp): Promise<ImageSeen | null> {
  return eventually(
    `${selector} to show a loaded image at ${url}`,
    () => imageSeen(page, selector),
    (seen) => seen !== null && !seen.hidden && url.test(seen.src ?? '') && seen.complete && seen.naturalWidth > 0,
  );
}

if (missingChromium && isCI) {
  describe('shop uploads in a real browser', () => {
    it('needs Chromium under CI=true', () => {
      throw new Error(`${missingChromium}. CI=true: the browser spec must run.`);
    });
  });
} else {
  (missingChromium ? describe.skip : describe)('shop uploads in a real browser (Chromium + apps/shop/dist/main.js)', () => {
    let shop: ShopWorker | undefined;
    let uploadDir: string | undefined;
    let browser: Browser | undefined;
    let shopperContext: BrowserContext;
    let shopper: Page;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      await buildShop();
      uploadDir = await mkdtemp(join(tmpdir(), 'shop-uploads-browser-'));
      shop = await ShopWorker.start('shop', { env: { UPLOAD_DIR: uploadDir, REDIS_URL: undefined, DATABASE_URL: undefined } });
      browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS, timeout: 60_000 });
      shopperContext = await browser.newContext();
      shopper = await shopperContext.newPage();
      shopper.setDefaultTimeout(STEP_TIMEOUT_MS);
      shopper.on('pageerror', (error) => pageErrors.push(String(error)));
    }, 240_000);

    afterAll(async () => {
      try {
        await browser?.close();
      } finally {
        await shop?.stop();
        if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
      }
      if (pageErrors.length > 0) console.warn(`page errors during the shop uploads browser spec:\n${pageErrors.join('\n')}`);
    }, 60_000);

    it(
      "a shopper logs in with the form, picks an avatar with the page's file input, and sees it in the header",
      async () => {
        await openShop(shopper, shop!.url);
        await logIn(shopper, 'demo', 'demo123');
        expect(await shopper.locator('#avatar-file').isVisible()).toBe(true);

        await shopper.locator('#avatar-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: solidPng(8, [200, 40, 40]) });

        const avatar = await waitForLoadedImage(shopper, '#avatar', /^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.png$/);
        expect(avatar!.naturalWidth).toBe(8);
        expect(await shopper.locator('#upload-error').innerText()).toBe('');
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a staff member attaches a product picture in another context; it appears in the shopper's catalogue without a reload",
      async () => {
        const navigations: string[] = [];
        shopper.on('framenavigated', (frame) => {
          if (frame === shopper.mainFrame()) navigations.push(frame.url());
        });
        const product = '#products > li[data-product-id="1"]';
        expect(await shopper.locator(`${product} img.product-image`).count()).toBe(0);

        const staffContext = await browser!.newContext();
        try {
          const staff = await staffContext.newPage();
          staff.setDefaultTimeout(STEP_TIMEOUT_MS);
          staff.on('pageerror', (error) => pageErrors.push(`staff: ${String(error)}`));
          await openShop(staff, shop!.url);
          await logIn(staff, 'staff', 'staff123');

          // Staff get a picture input on each product once the header knows they are staff.
          const input = staff.locator(`${product} input[type="file"]`);
          await input.waitFor({ state: 'attached' });
          await input.setInputFiles({ name: 'cup.png', mimeType: 'image/png', buffer: solidPng(12, [40, 40, 200]) });

          const productImage = /^\/_upload\/products\/product-1\.[0-9a-z]{17}\.png/;
          await waitForLoadedImage(staff, `${product} img.product-image`, productImage);
          expect(await staff.locator('#upload-error').innerText()).toBe('');

          // The shopper's tab, in its own context and session, gets the picture as a live update.
          const seen = await waitForLoadedImage(shopper, `${product} img.product-image`, productImage);
          expect(seen!.naturalWidth).toBe(12);
          expect(navigations).toEqual([]);
          // Still the same signed-in page, with the avatar from before.
          expect((await shopper.locator('#status').innerText()).trim()).toBe('Signed in as demo');
          expect(await shopper.locator('#avatar').isVisible()).toBe(true);
        } finally {
          await staffContext.close();
        }
      },
      TEST_TIMEOUT_MS,
    );
  });
}

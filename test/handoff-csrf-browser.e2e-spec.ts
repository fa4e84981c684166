/**
 * Login CSRF through the session cookie handoff, attempted in a real browser (Debian's Chromium driven by
 * playwright-core). The attacker logs in to the shop over its own socket, takes the one-time handoff URL (and even
 * the secret, which is its own), and serves a page on another site (127.0.0.2) that the victim visits: it tries a
 * credentialed `fetch` with the proof headers, then auto-submits a form POST to the URL. The victim's browser must
 * not end up logged in to the attacker's account, and the handoff must stay unspent.
 *
 * Chromium is expected at /usr/bin/chromium (or CHROMIUM_BIN). Without it the spec is skipped, except under
 * CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chromium, type Browser, type Response } from 'playwright-core';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from '../apps/shop/src/auth/auth-middleware.js';
import { mountHttpRoutes } from '../apps/shop/src/http-routes.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { RawSocket, handoffOf } from './support/raw-socket.js';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumMissing } from './support/chromium.js';

const ACCOUNT = 'reflex___state____state.account_state';
const STEP_TIMEOUT_MS = 15_000;

const isCI = process.env.CI === 'true';
const missingChromium = chromiumMissing();
if (missingChromium && !isCI) console.warn(`skipping the handoff CSRF browser spec: ${missingChromium}`);

/** The attacker's page: a credentialed fetch with the (attacker's own) proof headers, then an auto-submitted form. */
function attackPage(handoffUrl: string, secret: string, token: string): string {
  const data = JSON.stringify({ handoffUrl, secret, token }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html><head><title>loading</title></head><body>
<form method="POST" action="${handoffUrl}"><input type="hidden" name="x" value="1"></form>
<script>
  const { handoffUrl, secret, token } = ${data};
  (async () => {
    try {
      const response = await fetch(handoffUrl, {
        method: 'POST',
        credentials: 'include',
        headers: { 'X-Reflex-Handoff': secret, 'Reflex-Client-Token': token },
      });
      console.log('attack fetch: status ' + response.status);
    } catch {
      console.log('attack fetch: blocked');
    }
    document.forms[0].submit();
  })();
</script>
</body></html>`;
}

if (missingChromium && isCI) {
  describe('login CSRF through the cookie handoff, in a real browser', () => {
    it('needs Chromium under CI=true', () => {
      throw new Error(`${missingChromium}. CI=true: the browser spec must run.`);
    });
  });
} else {
  (missingChromium ? describe.skip : describe)('login CSRF through the cookie handoff, in a real browser (Chromium)', () => {
    let app: INestApplication;
    let shopUrl: string;
    let attacker: Server;
    let attackerUrl: string;
    let page = '';
    let browser: Browser | undefined;

    beforeAll(async () => {
      app = await NestFactory.create(ShopModule.forRoot(readShopConfig({ SQLITE_PATH: ':memory:' })), { logger: ['error'] });
      app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
      mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
      await app.listen(0, '127.0.0.1');
      shopUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
      // Another site: 127.0.0.2 is a different host (so a different site) on the same loopback interface.
      attacker = createServer((_request, response) => {
        response.setHeader('Content-Type', 'text/html; charset=utf-8');
        response.end(page);
      });
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.2', resolve));
      attackerUrl = `http://127.0.0.2:${(attacker.address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS, timeout: 60_000 });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => attacker?.close(resolve));
      await app?.close();
    }, 60_000);

    it('leaves the victim logged out and the handoff unspent', async () => {
      // The attacker logs in over its own socket and takes the handoff it is sent.
      const own = new RawSocket(shopUrl);
      try {
        await own.connected();
        await own.hydrate();
        own.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
        await own.until(() => own.updates.some((update) => handoffOf(update) !== undefined), STEP_TIMEOUT_MS);
        const { url, secret } = handoffOf(own.updates.find((update) => handoffOf(update) !== undefined)!)!;
        const handoffUrl = `${shopUrl}${url}`;
        page = attackPage(handoffUrl, secret, own.token);

        // The victim, with a fresh browser (no session cookie: what a first-login handoff expects), visits the page.
        const victim = await browser!.newContext();
        try {
          const tab = await victim.newPage();
          tab.setDefaultTimeout(STEP_TIMEOUT_MS);
          const posts: Response[] = [];
          const logs: string[] = [];
          tab.on('console', (message) => logs.push(message.text()));
          tab.on('response', (response) => {
            if (response.url() === handoffUrl && response.request().method() === 'POST') posts.push(response);
          });
          const formPost = tab.waitForResponse((response) => response.url() === handoffUrl && response.request().method() === 'POST');
          await tab.goto(attackerUrl);
          // The fetch needs a CORS preflight (custom headers), which the shop never approves for this origin.
          const formAnswer = await formPost;
          expect(formAnswer.status()).toBe(403);
          expect(await formAnswer.json()).toMatchObject({ code: 'origin_not_allowed' });
          expect(logs).toContain('attack fetch: blocked');
          expect(posts).toHaveLength(1); // the form's; the fetch never got past its preflight
          expect(await formAnswer.request().headerValue('origin')).toBe(attackerUrl);

          // The victim's browser holds no shop session and the shop sees no user.
          expect((await victim.cookies(shopUrl)).map((cookie) => cookie.name)).not.toContain('shop.sid');
          await tab.goto(`${shopUrl}/auth/me`);
          expect(JSON.parse(await tab.locator('body').innerText())).toEqual({ user: null });
        } finally {
          await victim.close();
        }

        // Nothing was redeemed: the attacker's own tab still can (so the refusals above were not a spent handoff).
        const redeemed = await fetch(handoffUrl, { method: 'POST', headers: { 'x-reflex-handoff': secret, 'reflex-client-token': own.token } });
        expect(redeemed.status).toBe(200);
        expect(redeemed.headers.get('set-cookie')).toMatch(/^shop\.sid=/);
      } finally {
        own.close();
      }
    }, 120_000);
  });
}

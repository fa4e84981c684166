import { expect } from '@jest/globals';
import type { Page } from 'playwright-core';
import { DEFAULT_EVENTUALLY_TIMEOUT_MS, eventually } from './eventually.js';

/** How many products the shop's catalogue lists when no filter is set. */
export const CATALOGUE_SIZE = 8;

/** Parses a money text like "71.00" into cents. */
export const cents = (money: string): number => Math.round(Number(money.trim()) * 100);

/** The shop page's steps that the browser specs share, each waiting (on conditions) up to one step timeout. */
export interface ShopPageHelpers {
  /** `eventually` with the step timeout as its default deadline. */
  eventually<T>(what: string, read: () => Promise<T> | T, check: (value: T) => boolean, timeoutMs?: number): Promise<T>;
  /** Waits until the element under `selector` reads `expected` (trimmed). */
  waitForText(page: Page, selector: string, expected: string, timeoutMs?: number): Promise<string>;
  /** Waits until the catalogue lists `expected` products. */
  waitForProducts(page: Page, expected: number, timeoutMs?: number): Promise<number>;
  /** `/auth/me` as the page's own `fetch` sees it (same origin, the browser's cookies). */
  me(page: Page): Promise<{ user: string | null }>;
  /** Opens the shop at `baseUrl` and waits until the catalogue and the (anonymous or restored) header are rendered. */
  openShop(page: Page, baseUrl: string, status?: string): Promise<void>;
  /** Logs in with the page's form (an event) and waits for the header and the session cookie handoff's answer. */
  logIn(page: Page, username: string, password: string): Promise<void>;
  /** Logs out with the header's button and waits for the anonymous header and the session cookie handoff's answer. */
  logOut(page: Page): Promise<void>;
  /** Clicks "Add to cart" on the product with this name; resolves with its price in cents as the page shows it. */
  addToCart(page: Page, name: string): Promise<number>;
}

/**
 * The shop page's shared steps for Chromium specs (the shop's React or server-rendered page: `#products`, `#status`,
 * `#login-form`), each waiting up to `stepTimeoutMs` (a spec behind nginx and several workers wants longer).
 */
export function shopPageHelpers(stepTimeoutMs = DEFAULT_EVENTUALLY_TIMEOUT_MS): ShopPageHelpers {
  const eventuallyInStep = <T>(what: string, read: () => Promise<T> | T, check: (value: T) => boolean, timeoutMs = stepTimeoutMs): Promise<T> =>
    eventually(what, read, check, timeoutMs);

  const waitForText = (page: Page, selector: string, expected: string, timeoutMs = stepTimeoutMs): Promise<string> =>
    eventually(`${selector} to read ${JSON.stringify(expected)}`, () => page.locator(selector).innerText(), (value) => value.trim() === expected, timeoutMs);

  const waitForProducts = (page: Page, expected: number, timeoutMs = stepTimeoutMs): Promise<number> =>
    eventually(`${expected} products in the list`, () => page.locator('#products > li').count(), (count) => count === expected, timeoutMs);

  const me = (page: Page): Promise<{ user: string | null }> =>
    page.evaluate(async () => (await (await fetch('/auth/me', { credentials: 'same-origin' })).json()) as { user: string | null });

  const openShop = async (page: Page, baseUrl: string, status = 'Not signed in'): Promise<void> => {
    await page.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded' });
    await waitForProducts(page, CATALOGUE_SIZE);
    await waitForText(page, '#status', status);
  };

  /** The session cookie handoff's POST that a login or logout starts (register it before the click). */
  const handoffAnswer = (page: Page) =>
    page.waitForResponse((response) => response.url().includes('/_bridge/session-cookie/') && response.request().method() === 'POST', { timeout: stepTimeoutMs });

  const logIn = async (page: Page, username: string, password: string): Promise<void> => {
    const handoff = handoffAnswer(page);
    await page.locator('#login-form input[name="username"]').fill(username);
    await page.locator('#login-form input[name="password"]').fill(password);
    await page.locator('#login-form button[type="submit"]').click();
    await waitForText(page, '#status', `Signed in as ${username}`);
    expect((await handoff).ok()).toBe(true);
  };

  const logOut = async (page: Page): Promise<void> => {
    const handoff = handoffAnswer(page);
    await page.locator('#logout').click();
    await waitForText(page, '#status', 'Not signed in');
    expect((await handoff).ok()).toBe(true);
  };

  const addToCart = async (page: Page, name: string): Promise<number> => {
    const item = page.locator('#products > li', { hasText: name });
    const price = cents(await item.locator('.price').innerText());
    await item.getByRole('button', { name: 'Add to cart' }).click();
    return price;
  };

  return { eventually: eventuallyInStep, waitForText, waitForProducts, me, openShop, logIn, logOut, addToCart };
}

/**
 * Uploads in the example shop, against the real built shop (`apps/shop/dist/main.js`, embedded SQLite in memory,
 * in-memory sessions, its upload directory in a temp dir): a logged-in shopper's avatar, the refusals (logged out,
 * not an image), and a staff member's product picture reaching another tab's catalogue as a live update.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildShop, ShopWorker } from './support/shop-workers.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const ACCOUNT = `${ROOT}.account_state`;
const STAFF = `${ROOT}.staff_state`;
const FILTER = `${ROOT}.filter_state`;

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
/** The start of a GIF89a: only its first bytes matter to the shop. */
const GIF = Buffer.concat([Buffer.from('GIF89a', 'latin1'), Buffer.alloc(32, 1)]);

describe('shop uploads', () => {
  let shop: ShopWorker;
  let uploadDir: string;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    await buildShop();
    uploadDir = await mkdtemp(join(tmpdir(), 'shop-uploads-'));
    shop = await ShopWorker.start('shop', { env: { UPLOAD_DIR: uploadDir, REDIS_URL: undefined, DATABASE_URL: undefined } });
  }, 200_000);

  afterAll(async () => {
    for (const socket of sockets) socket.socket.close();
    await shop?.stop();
    if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
  });

  async function httpLogin(username: string, password: string): Promise<string> {
    const response = await fetch(`${shop.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    expect(response.status).toBe(200);
    return response.headers.get('set-cookie')!.split(';')[0];
  }

  /** The demo shopper's session, logged in once: each login counts against the address's limit (5 a minute). */
  let demo: Promise<string> | undefined;
  const demoCookie = (): Promise<string> => (demo ??= httpLogin('demo', 'demo123'));

  async function openTab(cookie?: string): Promise<RawSocket> {
    const tab = new RawSocket(shop.url, undefined, { headers: cookie ? { cookie } : {} });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    return tab;
  }

  function upload(tab: RawSocket, handler: string, file: { name: string; bytes: Buffer; type: string }, cookie?: string, args?: unknown): Promise<Response> {
    const body = new FormData();
    if (args !== undefined) body.append('__reflex_event_args', JSON.stringify(args));
    body.append('files', new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
    return fetch(`${shop.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': handler, ...(cookie ? { cookie } : {}) },
      body,
    });
  }

  /** Files kept under `folder` of the upload directory (none when it does not exist). */
  async function stored(folder: string): Promise<string[]> {
    return readdir(join(uploadDir, folder)).catch(() => []);
  }

  it('stores a logged-in shopper\'s avatar and serves it back with nosniff', async () => {
    const cookie = await demoCookie();
    const tab = await openTab(cookie);
    const response = await upload(tab, `${ACCOUNT}.uploadAvatar`, { name: 'me.png', bytes: PNG, type: 'image/png' }, cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>>; final: boolean });
    expect(lines.at(-1)!.final).toBe(true);
    const avatarUrl = lines.map((line) => line.delta[ACCOUNT]?.['avatarUrl_rx_state_']).find((value) => typeof value === 'string') as string;
    expect(avatarUrl).toMatch(/^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.png$/);

    const served = await fetch(`${shop.url}${avatarUrl}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it("keeps a shopper's avatar at a URL nobody can guess, and removes the one it replaces", async () => {
    // Avatars were kept as avatars/user-<id>.<ext>: anyone could fetch every user's avatar by counting ids, and one
    // replaced by an image of another format stayed served for good.
    const cookie = await demoCookie();
    const tab = await openTab(cookie);
    const avatarOf = async (response: Response) => {
      expect(response.status).toBe(200);
      const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>> });
      return lines.map((line) => line.delta[ACCOUNT]?.['avatarUrl_rx_state_']).find((value) => typeof value === 'string') as string;
    };
    const first = await avatarOf(await upload(tab, `${ACCOUNT}.uploadAvatar`, { name: 'me.png', bytes: PNG, type: 'image/png' }, cookie));
    expect(first).toMatch(/^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.png$/);
    const id = /user-(\d+)\//.exec(first)![1];
    expect((await fetch(`${shop.url}/_upload/avatars/user-${id}.png`)).status).toBe(404);
    expect((await fetch(`${shop.url}/_upload/avatars/user-${id}/`)).status).toBe(404);
    expect((await fetch(`${shop.url}${first}`)).status).toBe(200);

    const second = await avatarOf(await upload(tab, `${ACCOUNT}.uploadAvatar`, { name: 'me.gif', bytes: GIF, type: 'image/gif' }, cookie));
    expect(second).toMatch(/^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.gif$/);
    expect((await fetch(`${shop.url}${second}`)).status).toBe(200);
    expect((await fetch(`${shop.url}${first}`)).status).toBe(404);
    expect(await stored(`avatars/user-${id}`)).toEqual([second.split('/').at(-1)]);

    // Another tab of the same user (or this one after a reload) shows the current avatar once the page's refresh
    // ran, not the removed one it may still hold, nor none: the avatar was this tab's state alone.
    const other = await openTab(cookie);
    other.send(`${ACCOUNT}.refresh`);
    await other.untilVar(ACCOUNT, 'avatarUrl', second);
    expect(other.errors).toEqual([]);
  });

  it('clears a tab\'s staff controls and avatar when the user logs out in another tab of the browser', async () => {
    const cookie = await httpLogin('staff', 'staff123');
    const tab = await openTab(cookie);
    tab.send(`${ACCOUNT}.refresh`);
    await tab.untilVar(ACCOUNT, 'isStaff', true);
    expect((await upload(tab, `${ACCOUNT}.uploadAvatar`, { name: 'me.png', bytes: PNG, type: 'image/png' }, cookie)).status).toBe(200);
    // The upload's delta went to the upload's response: the tab shows the avatar once it loads the page again.
    await tab.hydrate();
    expect(tab.latest(ACCOUNT, 'avatarUrl')).toMatch(/^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.png$/);
    const other = await openTab(cookie);
    other.send(`${ACCOUNT}.logout`);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    expect([tab.latest(ACCOUNT, 'isStaff'), tab.latest(ACCOUNT, 'avatarUrl')]).toEqual([false, '']);
    expect(tab.errors).toEqual([]);
  });

  it('refuses a logged-out avatar upload before storing anything', async () => {
    const before = await stored('avatars');
    const tab = await openTab();
    const response = await upload(tab, `${ACCOUNT}.uploadAvatar`, { name: 'me.png', bytes: PNG, type: 'image/png' });
    expect([401, 403]).toContain(response.status);
    expect(await stored('avatars')).toEqual(before);
  });

  it('refuses a socket event to an upload handler as invalid_payload, logged in or not, before its guard runs', async () => {
    // Logged out, the login guard answered first (`unauthorized`), after reading the session, for an event that an upload
    // handler refuses in any case: files arrive over POST /_upload only.
    for (const cookie of [undefined, await demoCookie()]) {
      const tab = await openTab(cookie);
      tab.send(`${ACCOUNT}.uploadAvatar`);
      await tab.until(() => tab.errors.length > 0, undefined, 'the refusal');
      expect({ loggedIn: cookie !== undefined, errors: tab.errors.map(({ code, message }) => ({ code, message })) }).toEqual({
        loggedIn: cookie !== undefined,
        errors: [{ code: 'invalid_payload', message: expect.stringContaining('takes an upload: send it as a POST to the _upload route') }],
      });
    }
  });

  it('refuses a file that is not an image, whatever its declared type', async () => {
    const cookie = await demoCookie();
    const tab = await openTab(cookie);
    const before = await stored('avatars');
    const html = { name: 'evil.png', bytes: Buffer.from('<html><script>alert(1)</script></html>'), type: 'image/png' };
    const response = await upload(tab, `${ACCOUNT}.uploadAvatar`, html, cookie);
    expect(response.status).toBe(415);
    expect(await stored('avatars')).toEqual(before);
  });

  it('refuses a shopper\'s product picture (staff only)', async () => {
    const cookie = await demoCookie();
    const tab = await openTab(cookie);
    const response = await upload(tab, `${STAFF}.attachImage`, { name: 'p.gif', bytes: GIF, type: 'image/gif' }, cookie, { productId: 2 });
    expect(response.status).toBe(403);
    expect(await stored('products')).toEqual([]);
  });

  it('sends a staff member\'s product picture to another tab\'s catalogue as a live update', async () => {
    const shopper = await openTab();
    shopper.send(`${FILTER}.live_subscribe`);
    await shopper.until(() => ((shopper.latest(FILTER, 'products') as unknown[] | undefined) ?? []).length > 0, undefined, 'the catalogue');
    // A tab's events run in order: once a later event answered, the subscription is in place.
    shopper.send(`${FILTER}.setQuery`, { value: 'cup' });
    await shopper.untilVar(FILTER, 'query', 'cup');

    const cookie = await httpLogin('staff', 'staff123');
    const staff = await openTab(cookie);
    const response = await upload(staff, `${STAFF}.attachImage`, { name: 'cup.gif', bytes: GIF, type: 'application/octet-stream' }, cookie, { productId: 1 });
    expect(response.status).toBe(200);
    await response.text();

    // Pictures are kept as product-<id>.<stamp>.<ext>: the stamp orders overlapping uploads (newest wins).
    const imageOf = (id: number) => JSON.stringify(shopper.updates).match(new RegExp(`/_upload/products/product-${id}\\.[0-9a-z]{17}\\.gif`))?.[0];
    await shopper.until(() => imageOf(1) !== undefined, undefined, 'the product picture on the other tab');
    const gifUrl = imageOf(1)!;
    const served = await fetch(`${shop.url}${gifUrl}`);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(GIF)).toBe(true);

    // A picture of another format replaces it: the GIF is no longer kept nor served (it stayed, for good).
    const png = await upload(staff, `${STAFF}.attachImage`, { name: 'cup.png', bytes: PNG, type: 'image/png' }, cookie, { productId: 1 });
    expect(png.status).toBe(200);
    await png.text();
    expect(await stored('products')).toEqual([expect.stringMatching(/^product-1\.[0-9a-z]{17}\.png$/)]);
    expect((await fetch(`${shop.url}${gifUrl}`)).status).toBe(404);
  });
});

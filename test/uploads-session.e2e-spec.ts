/**
 * The session changed in the browser while a tab stayed connected: the user logged in in another tab, so the
 * browser's cookies now name another session than the one the tab's socket connected with. An upload from the tab
 * carries the browser's real cookies: it runs with that session, and the tab's socket is disconnected, so the tab
 * reconnects with its browser's cookies and its later events do not go on with a stale user. The socket never
 * takes the upload's cookies: an upload from someone else who knows the tab's token moves nobody into their session.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, EventUploads, EventUser, State, type UploadFile } from '@reflex-bridge/nest';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers, type CachedAuthApp, type CachedUser } from './fixtures/cached-auth-app.js';
import { createClient } from 'redis';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import type { RawSocket } from './support/raw-socket.js';

const ATTACHMENTS = 'reflex___state____state.attachment_state';

@State()
@BridgeTier('auth_only')
class AttachmentState {
  by = '';

  @EventHandler()
  attach(@EventUploads() files: UploadFile[], @EventUser() user?: CachedUser): void {
    this.by = `${user?.username ?? 'anonymous'}:${files.length}`;
  }
}

/** Uploads one small file from the tab with the browser's `cookie`; returns the NDJSON lines. */
async function uploadAs(app: CachedAuthApp, socket: RawSocket, cookie: string): Promise<Array<{ delta: Record<string, Record<string, unknown>> }>> {
  const form = new FormData();
  form.append('files', new Blob(['avatar']), 'me.png');
  const response = await fetch(`${app.url}/_upload`, {
    method: 'POST',
    headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${ATTACHMENTS}.attach`, Cookie: cookie },
    body: form,
  });
  expect(response.status).toBe(200);
  return (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>> });
}

describe('an upload made after the browser\'s session changed', () => {
  const harness = cachedAuthHarness();
  let app: CachedAuthApp;

  beforeAll(async () => {
    resetCachedUsers();
    app = await harness.start({ app: { providers: [AttachmentState] } });
  });

  afterAll(async () => {
    await harness.closeAll();
  });

  it('runs with the request\'s real session, and the tab\'s socket is dropped: reconnected with the browser\'s cookies, it is the new user\'s', async () => {
    // The tab connected anonymous.
    const tab = await harness.connect(app, '');
    expect(await harness.whoami(tab, '/')).toBe('anonymous');
    const dropped = new Promise((resolve) => tab.socket.once('disconnect', resolve));
    // The user logs in in another tab: the browser's cookie now names carol's session.
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const lines = await uploadAs(app, tab, cookie);
    expect(lines[0].delta[ATTACHMENTS]).toEqual({ by_rx_state_: 'carol:1' });
    // A lost transport, which Reflex's state.js reconnects after (it does not after `io server disconnect`).
    await expect(dropped).resolves.toBe('transport close');
    // The tab reconnects, as its client does, with the browser's cookies and its token: carol's, state kept.
    const again = await harness.connect(app, cookie, tab.token);
    expect(again.newTokens).toEqual([]);
    expect(await harness.whoami(again, '/')).toBe('carol');
    expect(again.latest(ATTACHMENTS, 'by')).toBe('carol:1');
    // Same session now: another upload leaves the socket alone.
    await uploadAs(app, again, cookie);
    expect(await harness.whoami(again, '/')).toBe('carol');
    expect(again.socket.connected).toBe(true);
    expect(again.errors).toEqual([]);
  });

  it('an upload by someone else who knows the tab\'s token never moves the tab into their session', async () => {
    const victim = await harness.connect(app, '');
    expect(await harness.whoami(victim, '/')).toBe('anonymous');
    const dropped = new Promise((resolve) => victim.socket.once('disconnect', resolve));
    const attacker = await loginOverHttp(app.url, 'carol', 'secret-carol');
    await uploadAs(app, victim, attacker);
    await expect(dropped).resolves.toBe('transport close');
    // The victim's browser reconnects with its own (no) cookies: still anonymous.
    const again = await harness.connect(app, '', victim.token);
    expect(await harness.whoami(again, '/')).toBe('anonymous');
  });

  it("refuses an upload without the browser's cookies for a logged-in tab, as Reflex's upload.js sends it from another origin", async () => {
    // upload.js posts with an XMLHttpRequest without withCredentials: from a frontend on another origin (Reflex's
    // development setup, the page on :3000 and the backend on :8000) the request carries no cookies.
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const tab = await harness.connect(app, cookie);
    expect(await harness.whoami(tab, '/')).toBe('carol');
    const form = new FormData();
    form.append('files', new Blob(['avatar']), 'me.png');
    const response = await fetch(`${app.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${ATTACHMENTS}.attach` },
      body: form,
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: 'forbidden',
      detail: 'This client token belongs to a session, and this upload carries no cookies: send it with the session cookie.',
    });
  });

  it('an anonymous upload from a tab of the same anonymous browser changes nothing', async () => {
    const tab = await harness.connect(app, '');
    const lines = await uploadAs(app, tab, '');
    expect(lines[0].delta[ATTACHMENTS]).toEqual({ by_rx_state_: 'anonymous:1' });
    expect(await harness.whoami(tab, '/')).toBe('anonymous');
  });
});

describeWithRedis('an upload on another worker after the browser\'s session changed', () => {
  const harness = cachedAuthHarness();
  let redis: RedisTestServer;
  let a: CachedAuthApp;
  let b: CachedAuthApp;

  beforeAll(async () => {
    resetCachedUsers();
    redis = await RedisTestServer.launch();
    const options = { sessionRedisUrl: redis.url, bridge: { redisUrl: redis.url }, app: { providers: [AttachmentState] } };
    a = await harness.start(options);
    b = await harness.start(options);
  }, 60_000);

  afterAll(async () => {
    await harness.closeAll();
    await redis?.destroy();
  });

  it('drops the tab\'s socket on the other worker, which reconnects in the upload\'s session; the cookies are not published', async () => {
    const tab = await harness.connect(a, '');
    expect(await harness.whoami(tab, '/')).toBe('anonymous');
    const cookie = await loginOverHttp(b.url, 'dave', 'secret-dave');
    const dropped = new Promise((resolve) => tab.socket.once('disconnect', resolve));
    // What goes through Redis pub/sub meanwhile: every worker receives it.
    const published: Buffer[] = [];
    const spy = createClient({ url: redis.url });
    await spy.connect();
    await spy.pSubscribe('rx:io*', (message: Buffer) => void published.push(message), true);
    const lines = await uploadAs(b, tab, cookie);
    expect(lines[0].delta[ATTACHMENTS]).toEqual({ by_rx_state_: 'dave:1' });
    // Worker B tells worker A, which holds the socket and drops it; the tab reconnects as dave.
    await expect(dropped).resolves.toBe('transport close');
    await spy.quit();
    const sessionCookie = decodeURIComponent(cookie.split(';')[0]!.split('=')[1]!);
    expect(published.length).toBeGreaterThan(0);
    expect(published.filter((message) => message.includes(sessionCookie) || message.includes(cookie))).toEqual([]);
    const again = await harness.connect(a, cookie, tab.token);
    expect(await harness.whoami(again, '/')).toBe('dave');
  });
});

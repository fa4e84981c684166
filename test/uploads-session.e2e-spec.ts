/**
 * The session changed in the browser while a tab stayed connected: the user logged in in another tab, so the
 * browser's cookies now name another session than the one the tab's socket connected with. An upload from the tab
 * carries the browser's real cookies: it runs with that session, and the tab's socket follows it, so its later
 * events do not go on with a stale user.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, EventUploads, EventUser, State, type UploadFile } from '@reflex-bridge/nest';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers, type CachedAuthApp, type CachedUser } from './fixtures/cached-auth-app.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import type { RawSocket } from './support/raw-socket.js';

const ATTACHMENTS = 'reflex___state____state.attachment_state';
const PROFILE = 'reflex___state____state.profile_state';

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

  it('runs with the request\'s real session, and the tab\'s socket follows it: its later events see the new user', async () => {
    // The tab connected anonymous.
    const tab = await harness.connect(app, '');
    expect(await harness.whoami(tab, '/')).toBe('anonymous');
    // The user logs in in another tab: the browser's cookie now names carol's session.
    const cookie = await loginOverHttp(app.url, 'carol', 'secret-carol');
    const lines = await uploadAs(app, tab, cookie);
    expect(lines[0].delta[ATTACHMENTS]).toEqual({ by_rx_state_: 'carol:1' });
    // The socket's next event is carol's, and its AppState was pushed again with her.
    expect(await harness.whoami(tab, '/')).toBe('carol');
    await tab.until(() => tab.updates.some((update) => JSON.stringify(update.delta?.[PROFILE] ?? {}).includes('carol')), 20_000, 'the AppState push');
    // Same session again: nothing to move, and it stays carol's.
    await uploadAs(app, tab, cookie);
    expect(await harness.whoami(tab, '/')).toBe('carol');
    expect(tab.errors).toEqual([]);
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

  it('moves the tab\'s socket on the other worker to the upload\'s session', async () => {
    const tab = await harness.connect(a, '');
    expect(await harness.whoami(tab, '/')).toBe('anonymous');
    const cookie = await loginOverHttp(b.url, 'dave', 'secret-dave');
    const lines = await uploadAs(b, tab, cookie);
    expect(lines[0].delta[ATTACHMENTS]).toEqual({ by_rx_state_: 'dave:1' });
    // Worker B tells worker A, which holds the socket: ask until the socket's events are dave's.
    const deadline = Date.now() + 20_000;
    let seen = await harness.whoami(tab, '/');
    while (seen !== 'dave' && Date.now() < deadline) seen = await harness.whoami(tab, '/');
    expect(seen).toBe('dave');
  });
});

/**
 * Uploads to `auth_only` and `full` handlers while the app's session store freezes (its Redis stopped with SIGSTOP:
 * connect-redis on node-redis's defaults bounds no command). The tier reads the session on the upload's own request,
 * which ends `session_unavailable` after `bridge.middlewareTimeoutMs`, as an event does: the upload is answered as a
 * refusal worth sending again (503 with `Retry-After`), not as a failure of the app (500 `handler_error`, logged with
 * its stack for every upload); its slot is given back, nothing stays in the temp directory, and the outage is logged
 * once.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, EventUploads, State, type UploadFile } from '@reflex-bridge/nest';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { cachedAuthHarness, loginOverHttp, resetCachedUsers, type CachedAuthApp } from './fixtures/cached-auth-app.js';
import type { RawSocket } from './support/raw-socket.js';

const INBOX = 'reflex___state____state.inbox_state';

@State()
@BridgeTier('auth_only')
class InboxState {
  received = 0;

  @EventHandler()
  receive(@EventUploads() files: UploadFile[]): void {
    this.received += files.length;
  }

  @EventHandler()
  @BridgeTier('full')
  receiveFull(@EventUploads() files: UploadFile[]): void {
    this.received += files.length;
  }
}

/** One small file to `handler` from the tab, with the browser's `cookie`. */
async function upload(app: CachedAuthApp, tab: RawSocket, cookie: string, handler: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const form = new FormData();
  form.append('files', new Blob(['a letter']), 'letter.txt');
  const response = await fetch(`${app.url}/_upload`, {
    method: 'POST',
    headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${INBOX}.${handler}`, Cookie: cookie },
    body: form,
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
}

describeWithRedis('uploads while the session store is frozen', () => {
  const harness = cachedAuthHarness();
  let redis: RedisTestServer;
  let tempDirectory: string;

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-session-freeze-'));
  });
  afterAll(async () => {
    redis?.resume();
    await redis?.destroy();
    if (tempDirectory) await rm(tempDirectory, { recursive: true, force: true });
  });
  afterEach(async () => {
    redis.resume();
    await harness.closeAll();
    resetCachedUsers();
  });

  /** Uploads to each of `handlers` while Redis is frozen: each is refused 503 `code`, with a `Retry-After` to try again. */
  async function expectRefusedWhileFrozen(app: CachedAuthApp, tab: RawSocket, cookie: string, handlers: string[], code: string): Promise<void> {
    redis.pause();
    const refused: Array<Awaited<ReturnType<typeof upload>>> = [];
    try {
      for (const handler of handlers) refused.push(await upload(app, tab, cookie, handler));
    } finally {
      redis.resume();
    }
    for (const answer of refused) {
      expect(answer.status).toBe(503);
      expect(answer.retryAfter).toMatch(/^[1-9][0-9]*$/);
      expect(JSON.parse(answer.body)).toMatchObject({ code });
    }
  }

  it('answers 503 session_unavailable with Retry-After, frees the slot and the temp files, logs the outage once, and uploads again after the thaw', async () => {
    // One upload at a time on the worker: a refused upload that kept its slot would make the next one `uploads_busy`.
    const app = await harness.start({
      sessionRedisUrl: redis.url,
      withFastAuth: false,
      appSessionSkipsUploads: true,
      bridgeOptions: { middlewareTimeoutMs: 1_000 },
      bridge: { uploads: { maxConcurrent: 1, tempDirectory } },
      app: { providers: [InboxState] },
    });
    const cookie = await loginOverHttp(app.url, 'dave', 'secret-dave');
    const tab = await harness.connect(app, cookie);
    expect((await upload(app, tab, cookie, 'receive')).status).toBe(200);

    // Before: 500 `handler_error`, no Retry-After, and an error line with a stack for each upload.
    await expectRefusedWhileFrozen(app, tab, cookie, ['receive', 'receiveFull', 'receive'], 'session_unavailable');
    // The slot was given back and the session read works again: the next upload runs.
    expect((await upload(app, tab, cookie, 'receiveFull')).status).toBe(200);
    expect(await readdir(tempDirectory)).toEqual([]);
    // No failure of the app's: the outage is one line when it began and one when it ended.
    expect(app.logger.lines.filter((line) => line.level === 'error')).toEqual([]);
    const outage = app.logger.lines.filter((line) => line.level === 'warn' && /session/i.test(line.message));
    expect(outage.map((line) => line.message)).toEqual([expect.stringMatching(/is unavailable/), expect.stringMatching(/answers again; 3 operations failed/)]);
  }, 90_000);

  it('answers 503 state_unavailable with Retry-After while the state store is frozen, logged once as an outage, not as an error per upload', async () => {
    // Sessions in memory; the states (and the module's other shared parts) on the Redis that freezes.
    const app = await harness.start({ withFastAuth: false, appSessionSkipsUploads: true, bridge: { redisUrl: redis.url, uploads: { tempDirectory } }, app: { providers: [InboxState] } });
    const cookie = await loginOverHttp(app.url, 'dave', 'secret-dave');
    const tab = await harness.connect(app, cookie);
    expect((await upload(app, tab, cookie, 'receive')).status).toBe(200);
    await expectRefusedWhileFrozen(app, tab, cookie, ['receive', 'receive', 'receive'], 'state_unavailable');
    // Before: besides the outage's warning, an error line with a stack for each refused upload.
    expect(app.logger.lines.filter((line) => line.level === 'error')).toEqual([]);
    expect(app.logger.lines.filter((line) => line.level === 'warn' && line.message.startsWith('The state store (for uploads) is unavailable'))).toHaveLength(1);
  }, 90_000);
});

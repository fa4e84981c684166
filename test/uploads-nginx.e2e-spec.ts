/**
 * An upload on worker B for a socket on worker A, behind nginx, with Redis: two built shop worker processes
 * (`apps/shop/dist/main.js`, one REDIS_URL, one shared upload directory) and a real nginx whose `/_event` and `/`
 * go to worker A only and whose `/_upload` (POST and GET) goes to worker B only, so which worker takes each
 * request is fixed by the proxy's configuration and checked from nginx's `X-Upstream` header and access log.
 *
 * A logged-in shopper's tab connects through nginx (to A); the avatar upload (AccountState.uploadAvatar, buffered
 * mode) goes through nginx to B, runs under the token's cluster-wide lock, answers 200 NDJSON with the avatarUrl
 * delta; the tab on A finds the new avatarUrl after a hydrate, and GET of that URL through nginx returns the bytes.
 *
 * Needs redis-server and nginx (`bash scripts/install-test-deps.sh`): skipped without them, except under CI=true.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nginxSkipReason, startNginx, type NginxProxy } from './support/nginx.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { buildShop, ShopWorker } from './support/shop-workers.js';

const ROOT = 'reflex___state____state';
const ACCOUNT = `${ROOT}.account_state`;

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

const nginxMissing = nginxSkipReason();
if (nginxMissing) process.stderr.write(`${nginxMissing}\n`);
const suite = (name: string, fn: () => void) => (nginxMissing ? describe.skip(`${name} [skipped: nginx missing]`, fn) : describeWithRedis(name, fn));

/** Polls `predicate` until it holds; fails after a generous deadline (it only bounds a failure), with `details()`. */
async function until(predicate: () => Promise<boolean>, what: string, details: () => Promise<string>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${await details()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

suite('uploads behind nginx: the upload on worker B, the socket on worker A', () => {
  let redis: RedisTestServer;
  let workerA: ShopWorker;
  let workerB: ShopWorker;
  let nginx: NginxProxy;
  let uploadDir: string;
  const sockets: RawSocket[] = [];

  const diagnostics = async () =>
    `\n----- worker A -----\n${workerA?.output().slice(-6000)}\n----- worker B -----\n${workerB?.output().slice(-6000)}\n----- nginx error log -----\n${(await nginx?.errorLog())?.slice(-3000)}`;

  beforeAll(async () => {
    await buildShop();
    redis = await RedisTestServer.launch();
    uploadDir = await mkdtemp(join(tmpdir(), 'shop-uploads-nginx-'));
    // One upload directory for both workers, as a shared volume would be in production.
    const env = { REDIS_URL: redis.url, SQLITE_PATH: ':memory:', NODE_ENV: 'development', UPLOAD_DIR: uploadDir, DATABASE_URL: undefined };
    workerA = await ShopWorker.start('worker-A', { env });
    workerB = await ShopWorker.start('worker-B', { env });
    nginx = await startNginx([workerA.port], { uploadUpstreamPorts: [workerB.port] });
  }, 240_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await nginx?.stop();
    await Promise.all([workerA?.stop(), workerB?.stop()]);
    await redis?.destroy();
    if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
  }, 60_000);

  it('answers the avatar upload on B with NDJSON, the tab on A hydrates the new avatarUrl, GET serves the bytes', async () => {
    const atA = `127.0.0.1:${workerA.port}`;
    const atB = `127.0.0.1:${workerB.port}`;

    // Log in through nginx: `/` goes to worker A; the session lives in Redis, so B knows it too.
    const login = await fetch(`${nginx.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password: 'demo123' }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('x-upstream')).toBe(atA);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];

    // The tab: its socket goes through nginx's /_event, whose only upstream is worker A.
    const tab = new RawSocket(nginx.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    expect(tab.latest(ACCOUNT, 'avatarUrl')).toBe('');

    // The upload: through nginx's /_upload, whose only upstream is worker B.
    const body = new FormData();
    body.append('files', new Blob([new Uint8Array(PNG)], { type: 'image/png' }), 'me.png');
    const response = await fetch(`${nginx.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${ACCOUNT}.uploadAvatar`, cookie },
      body,
    });
    const text = await response.text();
    expect({ status: response.status, text }).toEqual({ status: 200, text: expect.any(String) });
    expect(response.headers.get('x-upstream')).toBe(atB);
    expect(response.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>>; final: boolean });
    expect(lines.at(-1)!.final).toBe(true);
    const avatarUrl = lines.map((line) => line.delta[ACCOUNT]?.['avatarUrl_rx_state_']).find((value) => typeof value === 'string') as string;
    expect(avatarUrl).toMatch(/^\/_upload\/avatars\/user-\d+\/[\w-]{22}\.[0-9a-z]{17}\.png$/);

    // The tab on A, after a hydrate, has the avatarUrl that B's handler set (the state lives in Redis).
    const before = tab.updates.length;
    await tab.hydrate();
    const hydrated = tab.updates.slice(before).find((update) => update.delta?.[ACCOUNT] && 'avatarUrl_rx_state_' in update.delta[ACCOUNT]);
    expect(hydrated?.delta?.[ACCOUNT]?.['avatarUrl_rx_state_']).toBe(avatarUrl);

    // GET through nginx (to B) serves the stored bytes.
    const served = await fetch(`${nginx.url}${avatarUrl}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('x-upstream')).toBe(atB);
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);

    // nginx logs a WebSocket when it closes: the tab's /_event connection was proxied to worker A.
    tab.close();
    const eventLine = new RegExp(`"GET /_event/\\?[^"]*token=${tab.token}[^"]*" 101 .* upstream=${atA.replace(/\./g, '\\.')}$`, 'm');
    await until(async () => eventLine.test(await nginx.accessLog()), 'the tab\'s /_event line in nginx\'s access log', async () => `\n----- nginx access log -----\n${await nginx.accessLog()}${await diagnostics()}`);
    const uploadLine = new RegExp(`"POST /_upload HTTP/1\\.1" 200 .* upstream=${atB.replace(/\./g, '\\.')}$`, 'm');
    expect(uploadLine.test(await nginx.accessLog())).toBe(true);
  }, 120_000);
});

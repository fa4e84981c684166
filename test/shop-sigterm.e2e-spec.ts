import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { buildShop, ShopWorker } from './support/shop-workers.js';
import { StateJsTab } from './support/state-js-reconnect.js';

const LIKES = 'reflex___state____state.likes_state';

describeWithRedis('the built shop sent SIGTERM while an event of a tab is running', () => {
  const directory = mkdtempSync(join(tmpdir(), 'shop-sigterm-'));
  let redis: RedisTestServer | undefined;
  let worker: ShopWorker | undefined;
  beforeAll(async () => {
    await buildShop();
    redis = await RedisTestServer.launch();
    worker = await ShopWorker.start('sigterm', { env: { REDIS_URL: redis.url, SQLITE_PATH: join(directory, 'shop.sqlite'), UPLOAD_DIR: join(directory, 'uploads') }, startTimeoutMs: 120_000 });
  }, 300_000);
  afterAll(async () => {
    redis?.resume();
    await worker?.stop();
    await redis?.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  it('lets the event finish and its delta reach the tab, then exits 0 with no error in its output', async () => {
    const tab = await RawSocket.hydrated(worker!.url);
    let probe: StateJsTab | undefined;
    try {
      // The gate: Redis frozen, the event waits for its state's lock (well within the store's 5 s command timeout).
      redis!.pause();
      tab.send(`${LIKES}.like`);
      // The worker has read the event (it answers `ping` after every frame before it): the event is running.
      await tab.ping();
      const exited = worker!.kill('SIGTERM');
      // A tab connecting now is refused `server_stopping` once the drain has begun.
      probe = new StateJsTab(worker!.url, randomUUID());
      await until(() => probe!.connectErrors.some((error) => (error.data as { code?: string } | undefined)?.code === 'server_stopping') || undefined, 'the shutdown to begin');
      redis!.resume();
      await tab.until(() => tab.latest(LIKES, 'count') === 1, 20_000, "the held event's delta");
      await exited;
      const output = worker!.output();
      expect({ exit: worker!.exitStatus(), errors: output.split('\n').filter((line) => /ERROR|Error|WARN/.test(line)) }).toEqual({ exit: 'code 0', errors: [] });
      expect(tab.errors).toEqual([]);
      // Every state lock was given back: none is left to expire, which would hold the tab's next event on another
      // worker (its hydrate, once reconnected) for lockTimeoutMs. Before: the lock of the event that had just ended was
      // still being given back when the worker closed its Redis connection (a WARN above), and stayed.
      const admin = createClient({ url: redis!.url });
      await admin.connect();
      try {
        expect(await admin.keys('*:lock')).toEqual([]);
      } finally {
        await admin.quit();
      }
    } finally {
      redis!.resume();
      probe?.close();
      tab.close();
    }
  }, 120_000);
});

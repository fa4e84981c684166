import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { createClient } from 'redis';
import { RedisStateStore, type RedisStateStoreOptions } from '../libs/reflex-bridge/src/state/store/redis-state.store.js';
import type { StateLease } from '../libs/reflex-bridge/src/state/store/state-store.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const stateKey = (token: string) => `rx:state:v2:{${token}}`;

/** A logger that records what the store says. */
function recordingLogger(): LoggerService & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, log: () => undefined, error: () => undefined, warn: (message: unknown) => void warnings.push(String(message)) };
}

describeWithRedis('RedisStateStore: Redis memory limit (memoryLimitBytes) against a real redis-server', () => {
  let server: RedisTestServer;
  let redis: ReturnType<typeof createClient>;
  const stores: RedisStateStore[] = [];
  const leases: StateLease[] = [];

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    redis = createClient({ url: server.url });
    await redis.connect();
  });
  afterEach(async () => {
    for (const lease of leases.splice(0)) await lease.release();
    for (const store of stores.splice(0)) await store.close();
    await redis.configSet('maxmemory', '0');
    await redis.flushAll();
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.destroy();
  });

  const store = (options: Omit<RedisStateStoreOptions, 'url'>) => {
    const made = new RedisStateStore({ url: server.url, lockLingerMs: 0, ...options });
    stores.push(made);
    return made;
  };
  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
  const redisNowMs = async () => {
    const [seconds, micros] = (await redis.sendCommand(['TIME'])) as unknown as [string, string];
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
  /** Waits until Redis has handled every other client's disconnect (and freed its buffers). */
  const onlyOurConnection = async () => {
    const deadline = Date.now() + 20_000;
    while ((await redis.clientList()).length > 1) {
      if (Date.now() > deadline) throw new Error(`Redis still has ${(await redis.clientList()).length} connections`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const exists = async (token: string) => (await redis.exists(stateKey(token))) === 1;
  /** Saves a state of about `bytes` for `token`: provisional (a tab that only hydrated) or kept; leaves it locked when `hold`. */
  async function put(writer: RedisStateStore, token: string, bytes: number, kind: 'provisional' | 'kept', hold = false): Promise<void> {
    const lease = await writer.acquire(token);
    await lease.save({ 'reflex___state____state.page': { text: token.padEnd(bytes, 'x') } }, kind === 'provisional' ? { provisional: true } : undefined);
    if (hold) leases.push(lease);
    else await lease.release();
  }

  it('drops unlocked provisional states first, then kept ones used longest ago, until Redis uses 90% of the limit', async () => {
    const writer = store({ memoryLimitBytes: false });
    await put(writer, 'locked-kept', 25_000, 'kept', true);
    await put(writer, 'locked-provisional', 25_000, 'provisional', true);
    const kept = Array.from({ length: 40 }, (_, i) => `kept-${String(i).padStart(2, '0')}`);
    for (const token of kept) {
      await put(writer, token, 25_000, 'kept');
      // A later save expires later: the order the sweep must follow (expiries are in milliseconds).
      const expiry = await redis.pExpireTime(stateKey(token));
      while ((await redisNowMs()) <= expiry - 3_600_000) {
        // the clock has not moved past this save's millisecond yet
      }
    }
    const withoutProvisional = await usedMemory();
    const provisional = Array.from({ length: 50 }, (_, i) => `provisional-${i}`);
    for (const token of provisional) await put(writer, token, 25_000, 'provisional');
    expect(await usedMemory()).toBeGreaterThan(withoutProvisional + 50 * 25_000);

    // A limit whose 90% needs about half the kept states gone too, once the provisional ones are.
    const target = withoutProvisional - 20 * 25_000;
    const limit = Math.ceil(target / 0.9);
    const logger = recordingLogger();
    const sweeper = store({ memoryLimitBytes: limit, logger });
    await sweeper.checkMemory();

    expect(await usedMemory()).toBeLessThanOrEqual(target);
    for (const token of provisional) expect(await exists(token)).toBe(false);
    // Never a state under a lock: an event is running on it, or a worker keeps it between a tab's events.
    expect(await exists('locked-kept')).toBe(true);
    expect(await exists('locked-provisional')).toBe(true);
    const left = await Promise.all(kept.map(exists));
    const firstLeft = left.indexOf(true);
    // The oldest went, the newest stayed: what is left is the most recent ones, in order.
    expect(firstLeft).toBeGreaterThan(0);
    expect(left.slice(firstLeft).every(Boolean)).toBe(true);
    expect(sweeper.droppedOverMemoryLimit).toBe(provisional.length + firstLeft);
    expect(logger.warnings.join('\n')).toMatch(/over the state store's memory limit .* dropped \d+ states nobody was using/);

    // A tab whose state was dropped starts afresh, as after an expiry; the others read theirs.
    expect((await sweeper.read(kept[0]!))).toBeNull();
    expect((await sweeper.read(kept[39]!))?.['reflex___state____state.page']?.['text']).toMatch(/^kept-39x+$/);
  });

  it("keeps Redis under 80% of its maxmemory by default ('auto'), checking on its own, and leaves everything with false", async () => {
    const writer = store({ memoryLimitBytes: false });
    const tokens = Array.from({ length: 60 }, (_, i) => `tab-${i}`);
    for (const token of tokens) await put(writer, token, 50_000, 'provisional');
    // Closed first: its connection's buffers (megabytes after these writes) are freed, and Redis's figure is the states'.
    // Redis frees them when it handles the disconnect, which a busy machine delays past close()'s return: the figure is
    // read once ours is the only connection left.
    await writer.close();
    await onlyOurConnection();
    const used = await usedMemory();
    // Redis 90% full: past the guard's 80%, short of refusing writes.
    const maxmemory = Math.ceil(used / 0.9);
    await redis.configSet({ maxmemory: String(maxmemory), 'maxmemory-policy': 'noeviction' });

    const off = store({ memoryLimitBytes: false, memoryCheckIntervalMs: 10 });
    await off.checkMemory();
    expect(await usedMemory()).toBeGreaterThan(0.8 * maxmemory);
    expect(off.droppedOverMemoryLimit).toBe(0);

    const logger = recordingLogger();
    const guarded = store({ memoryCheckIntervalMs: 20, logger });
    // The store starts its readings with its connection (its first use), then drops on its own.
    expect(await guarded.read('no-such-tab')).toBeNull();
    const deadline = Date.now() + 20_000;
    while ((await usedMemory()) > 0.8 * 0.9 * maxmemory) {
      if (Date.now() > deadline) throw new Error(`Redis still uses ${await usedMemory()} of ${maxmemory} bytes`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The memory can be under the mark while the sweep that got it there is still going (Redis has run its last drop,
    // the store has not yet read the reply that counts it, nor logged its warning, which comes at the sweep's end): a
    // check asked for waits for the one in progress.
    await guarded.checkMemory();
    expect(guarded.droppedOverMemoryLimit).toBeGreaterThan(0);
    expect(logger.warnings.some((line) => line.includes('dropped'))).toBe(true);
  });

  it('says once that the limit is not enforced when Redis refuses its INFO (an ACL, as on some managed services), and serves states on', async () => {
    await redis.sendCommand(['ACL', 'SETUSER', 'no-info', 'on', '>secret', '~*', '&*', '+@all', '-info']);
    const logger = recordingLogger();
    const url = server.url.replace('redis://', 'redis://no-info:secret@');
    const limited = new RedisStateStore({ url, lockLingerMs: 0, memoryLimitBytes: 1, memoryCheckIntervalMs: 10, logger });
    try {
      await limited.checkMemory();
      await limited.checkMemory();
      expect(logger.warnings.filter((line) => line.includes('the limit is not enforced'))).toHaveLength(1);
      await put(limited, 'still-served', 1_000, 'kept');
      expect(await exists('still-served')).toBe(true);
    } finally {
      // Closed before its user goes: Redis would cut its connections under it.
      await limited.close();
      await redis.sendCommand(['ACL', 'DELUSER', 'no-info']);
    }
  });

  it('refuses a memory limit that is not a positive number of bytes, auto or false', () => {
    for (const memoryLimitBytes of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1gb', true]) {
      expect(() => new RedisStateStore({ url: server.url, memoryLimitBytes: memoryLimitBytes as never })).toThrow(/memoryLimitBytes/);
    }
    for (const memoryCheckIntervalMs of [0, -5, 'often']) {
      expect(() => new RedisStateStore({ url: server.url, memoryCheckIntervalMs: memoryCheckIntervalMs as never })).toThrow(/memoryCheckIntervalMs/);
    }
  });
});

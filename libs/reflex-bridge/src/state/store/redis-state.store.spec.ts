import { describe, expect, it } from '@jest/globals';
import { RedisStateStore } from './redis-state.store.js';
import { StateStoreError } from './state-store.error.js';
import { freePort } from '../../../../../test/support/ports.js';

const silent = { log: () => undefined, error: () => undefined, warn: () => undefined };

// No Redis server needed here: the real-Redis behaviour is in test/redis-state-store.e2e-spec.ts.
describe('RedisStateStore (without a server)', () => {
  it('validates its options, naming the field', () => {
    expect(() => new RedisStateStore({ url: '' })).toThrow(/"url" must be a Redis URL/);
    expect(() => new RedisStateStore({ url: 'redis://x', lockTimeoutMs: 0 })).toThrow(/"lockTimeoutMs" must be a positive number, got 0/);
    expect(() => new RedisStateStore({ url: 'redis://x', ttlSeconds: -1 })).toThrow(/"ttlSeconds"/);
    expect(() => new RedisStateStore({ url: 'redis://x', keyPrefix: 3 as unknown as string })).toThrow(/"keyPrefix"/);
    expect(() => new RedisStateStore({ url: 'redis://x', lockLingerMs: -1 })).toThrow(/"lockLingerMs" must be a positive number, got -1/);
    expect(() => new RedisStateStore({ url: 'redis://x', lockLingerMs: 0 })).not.toThrow();
  });

  it('does not connect before it is used, and closes without having connected', async () => {
    const store = new RedisStateStore({ url: 'redis://127.0.0.1:1', logger: silent });
    await store.close();
    await expect(store.acquire('tok')).rejects.toMatchObject({ code: 'closed' });
  });

  it('fails fast with a clear error, without the password, when Redis cannot be reached', async () => {
    const port = await freePort();
    const store = new RedisStateStore({ url: `redis://user:secret@127.0.0.1:${port}`, logger: silent });
    try {
      const started = Date.now();
      const error = await store.connect().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(StateStoreError);
      expect(error).toMatchObject({ code: 'unavailable' });
      expect((error as Error).message).toMatch(new RegExp(`could not connect to redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
      expect((error as Error).message).not.toMatch(/secret/);
      // Later callers are refused at once while the store keeps reconnecting in the background.
      await expect(store.acquire('tok')).rejects.toMatchObject({ code: 'unavailable' });
      await expect(store.read('tok')).rejects.toMatchObject({ code: 'unavailable' });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await store.close();
    }
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', async () => {
    expect(() => new RedisStateStore({ url: 'redis://x', lockTTLMs: 100 } as never)).toThrow(
      'RedisStateStore: unknown option "lockTTLMs" (it takes "url", "connections", "keyPrefix", "ttlSeconds", "unusedTtlSeconds", "lockTimeoutMs", ' +
        '"lockWarningMs", "lockLingerMs", "acquireTimeoutMs", "commandTimeoutMs", "pollIntervalMs", "maxReconnectDelayMs", "memoryLimitBytes", "memoryCheckIntervalMs", "openTabKey", "logger")',
    );
    // Every known option is taken, and so are the store's own connections it opens with them on first use.
    const port = await freePort();
    const store = new RedisStateStore({
      url: `redis://127.0.0.1:${port}`,
      keyPrefix: 'app:',
      ttlSeconds: 60,
      unusedTtlSeconds: 30,
      lockTimeoutMs: 1_000,
      lockWarningMs: 500,
      lockLingerMs: 0,
      acquireTimeoutMs: 2_000,
      commandTimeoutMs: 2_000,
      pollIntervalMs: 100,
      maxReconnectDelayMs: 100,
      memoryLimitBytes: 100_000_000,
      memoryCheckIntervalMs: 500,
      logger: silent,
    });
    try {
      await expect(store.connect()).rejects.toMatchObject({ code: 'unavailable' });
    } finally {
      await store.close();
    }
  });
});

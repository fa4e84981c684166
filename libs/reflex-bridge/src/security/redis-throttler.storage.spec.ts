import { describe, expect, it } from '@jest/globals';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { freePort } from '../../../../test/support/ports.js';

const silent = { log: () => undefined, error: () => undefined, warn: () => undefined };

// No Redis server needed here: the contract against a real Redis runs in test/rate-limit.e2e-spec.ts.
describe('RedisThrottlerStorage (without a server)', () => {
  it('validates its options, naming the field', () => {
    expect(() => new RedisThrottlerStorage({ url: '' })).toThrow(/"url" must be a Redis URL/);
    expect(() => new RedisThrottlerStorage({ url: 'redis://x', commandTimeoutMs: 0 })).toThrow(/"commandTimeoutMs" must be a positive number/);
    expect(() => new RedisThrottlerStorage({ url: 'redis://x', keyPrefix: 3 as unknown as string })).toThrow(/"keyPrefix"/);
    expect(new RedisThrottlerStorage({ url: 'redis://x' }).keyPrefix).toBe('rx:throttle:');
  });

  it('does not connect before it is used, and refuses counts after close()', async () => {
    const storage = new RedisThrottlerStorage({ url: 'redis://127.0.0.1:1', logger: silent });
    await storage.close();
    await expect(storage.hit('k', 1000, 1, 0)).rejects.toThrow(/closed/);
  });

  it('rejects a count with a clear error, without the password, when Redis cannot be reached', async () => {
    const port = await freePort();
    const storage = new RedisThrottlerStorage({ url: `redis://user:secret@127.0.0.1:${port}`, logger: silent, commandTimeoutMs: 500 });
    try {
      const error = (await storage.hit('k', 1000, 1, 0).then(() => undefined, (e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toMatch(/RedisThrottlerStorage/);
      expect(error.message).not.toContain('secret');
    } finally {
      await storage.close();
    }
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', async () => {
    expect(() => new RedisThrottlerStorage({ url: 'redis://x', commandTimeout: 100 } as never)).toThrow(
      'RedisThrottlerStorage: unknown option "commandTimeout" (it takes "url", "connections", "keyPrefix", "commandTimeoutMs", "maxReconnectDelayMs", "logger")',
    );
    // Every known option is taken, and so is the storage's own connection it opens with them on first use.
    const port = await freePort();
    const storage = new RedisThrottlerStorage({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'app:', commandTimeoutMs: 2_000, maxReconnectDelayMs: 100, logger: silent });
    try {
      await expect(storage.hit('a', 1_000, 1, 0)).rejects.toThrow(/RedisThrottlerStorage could not count a hit|not connected|could not connect/);
    } finally {
      await storage.close();
    }
  });
});

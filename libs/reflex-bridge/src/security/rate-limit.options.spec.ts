import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';
import { InMemoryThrottlerStorage } from './in-memory-throttler.storage.js';

describe('rateLimit options', () => {
  it('defaults to a generous per-connection budget', () => {
    expect(resolveOptions().rateLimit).toEqual({
      enabled: true,
      perConnection: { limit: 500, ttlMs: 10_000, blockDurationMs: 0 },
      controlFrames: { limit: 100, ttlMs: 10_000, blockDurationMs: 0 },
      cookieHandoffs: { limit: 100, ttlMs: 30_000, blockDurationMs: 0 },
      newStates: { limit: 60, ttlMs: 60_000, blockDurationMs: 0 },
      newTabs: { limit: 300, ttlMs: 60_000, blockDurationMs: 0 },
      storage: undefined,
      keyPrefix: 'rx:throttle:',
      ipv6SubnetPrefix: 64,
    });
  });

  it('takes a budget, a storage, a prefix, or false', () => {
    const storage = new InMemoryThrottlerStorage();
    const resolved = resolveOptions({ rateLimit: { perConnection: { limit: 10, ttlMs: 1000, blockDurationMs: 5000 }, storage, keyPrefix: 'shop:rl:' } }).rateLimit;
    expect(resolved).toMatchObject({ perConnection: { limit: 10, ttlMs: 1000, blockDurationMs: 5000 }, storage, keyPrefix: 'shop:rl:' });
    expect(resolveOptions({ rateLimit: { perConnection: false } }).rateLimit.perConnection).toBeUndefined();
    expect(resolveOptions({ rateLimit: false }).rateLimit).toMatchObject({ enabled: false, perConnection: undefined, cookieHandoffs: undefined, newStates: undefined, newTabs: undefined });
    expect(resolveOptions({ rateLimit: { newTabs: false } }).rateLimit.newTabs).toBeUndefined();
    expect(resolveOptions({ rateLimit: { newTabs: { limit: 7, ttlMs: 500 } } }).rateLimit.newTabs).toEqual({ limit: 7, ttlMs: 500, blockDurationMs: 0 });
    expect(resolveOptions({ rateLimit: { newStates: false } }).rateLimit.newStates).toBeUndefined();
    expect(resolveOptions({ rateLimit: { newStates: { limit: 3, ttlMs: 500, blockDurationMs: 100 } } }).rateLimit.newStates).toEqual({ limit: 3, ttlMs: 500, blockDurationMs: 100 });
    expect(resolveOptions({ rateLimit: { controlFrames: { limit: 20, ttlMs: 1000 } } }).rateLimit.controlFrames).toEqual({ limit: 20, ttlMs: 1000, blockDurationMs: 0 });
    expect(resolveOptions({ rateLimit: { cookieHandoffs: false } }).rateLimit.cookieHandoffs).toBeUndefined();
    expect(resolveOptions({ rateLimit: { cookieHandoffs: { limit: 5, ttlMs: 1000 } } }).rateLimit.cookieHandoffs).toEqual({ limit: 5, ttlMs: 1000, blockDurationMs: 0 });
  });

  it('keeps the allowance of WebSocket control frames on whatever the event limits say', () => {
    const allowance = { limit: 100, ttlMs: 10_000, blockDurationMs: 0 };
    expect(resolveOptions({ rateLimit: { perConnection: false } }).rateLimit.controlFrames).toEqual(allowance);
    expect(resolveOptions({ rateLimit: false }).rateLimit.controlFrames).toEqual(allowance);
    expect(() => resolveOptions({ rateLimit: { controlFrames: false as never } })).toThrow(/"rateLimit\.controlFrames": expected \{ limit, ttlMs \}: it cannot be turned off/);
    expect(() => resolveOptions({ rateLimit: { controlFrames: { limit: 0, ttlMs: 1000 } } })).toThrow(/"rateLimit\.controlFrames\.limit": expected an integer ≥ 1/);
  });

  it('refuses invalid values, naming the field', () => {
    expect(() => resolveOptions({ rateLimit: { perConnection: { limit: 0, ttlMs: 1000 } } })).toThrow(/"rateLimit\.perConnection\.limit": expected an integer ≥ 1/);
    expect(() => resolveOptions({ rateLimit: { cookieHandoffs: { limit: 1.5, ttlMs: 1000 } } })).toThrow(/"rateLimit\.cookieHandoffs\.limit": expected an integer ≥ 1/);
    expect(() => resolveOptions({ rateLimit: { perConnection: { limit: 5, ttlMs: -1 } } })).toThrow(/"rateLimit\.perConnection\.ttlMs"/);
    expect(() => resolveOptions({ rateLimit: { newStates: { limit: 0, ttlMs: 1000 } } })).toThrow(/"rateLimit\.newStates\.limit": expected an integer ≥ 1/);
    expect(() => resolveOptions({ rateLimit: { newStates: { limit: 5, ttlMs: Number.NaN } } })).toThrow(/"rateLimit\.newStates\.ttlMs"/);
    expect(() => resolveOptions({ rateLimit: { newTabs: { limit: -1, ttlMs: 1000 } } })).toThrow(/"rateLimit\.newTabs\.limit": expected an integer ≥ 1/);
    expect(() => resolveOptions({ rateLimit: { newStates: true as never } })).toThrow(/"rateLimit\.newStates": expected false or \{ limit, ttlMs \}/);
    expect(() => resolveOptions({ rateLimit: { perConnection: { limit: 5, ttlMs: 10, ttl: 3 } as never } })).toThrow(/"rateLimit\.perConnection\.ttl": unknown option/);
    expect(() => resolveOptions({ rateLimit: { storage: {} as never } })).toThrow(/"rateLimit\.storage"/);
    expect(() => resolveOptions({ rateLimit: { ipv6SubnetPrefix: 129 } })).toThrow(/"rateLimit\.ipv6SubnetPrefix"/);
    expect(() => resolveOptions({ rateLimit: { limit: 5 } as never })).toThrow(/"rateLimit\.limit": unknown option/);
    expect(() => resolveOptions({ rateLimit: true as never })).toThrow(/"rateLimit": expected false or an object/);
  });
});

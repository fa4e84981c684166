import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import fc from 'fast-check';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../reflex-bridge.options.js';
import { InvalidOptionError } from '../invalid-option.error.js';
import { isThenable } from '../common/maybe-promise.js';
import type { EventCacheOptions } from './event-cache.options.js';
import { EventCacheService } from './event-cache.service.js';

const ANN = { userId: 1, isAuthenticated: true } as const;
/** `snapshot` as the cache gives it back: with the time its session was read. */
const timed = (snapshot: object) => ({ ...snapshot, readAtMs: expect.any(Number) });

/** A service over the app's cache-manager Cache, resolved the way the module does (through a DI fake of ModuleRef). */
function withAppCache(cache: Cache, eventCache: Omit<EventCacheOptions, 'cache'> = {}, token: string | symbol = 'reflex_events'): EventCacheService {
  const moduleRef = {
    get: (wanted: unknown) => {
      if (wanted !== token) throw new Error(`Nest could not find ${String(wanted)} element`);
      return cache;
    },
  } as unknown as ModuleRef;
  const service = new EventCacheService(resolveOptions({ eventCache: { ...eventCache, cache: token } }), moduleRef);
  service.onModuleInit();
  return service;
}

const sessionIds = fc.string({ minLength: 1, maxLength: 64 });

describe('EventCacheService with its own in-memory cache (the default)', () => {
  it('answers peek and put synchronously, and get/set/invalidate/invalidateAll as before', async () => {
    const cache = new EventCacheService(resolveOptions({}));
    const events: unknown[] = [];
    cache.invalidated$.subscribe((event) => events.push(event));
    expect(cache.enabled).toBe(true);
    expect(cache.put('sid', ANN)).toBeUndefined();
    expect(cache.peek('sid')).toEqual(timed(ANN));
    expect(cache.peek('unknown')).toBeUndefined(); // a miss is synchronous too
    expect(await cache.get('sid')).toEqual(timed(ANN));
    await cache.invalidate('sid', 'logout');
    expect(cache.peek('sid')).toBeUndefined();
    await cache.set('other', { userId: 2, isAuthenticated: true });
    await cache.invalidateAll();
    expect(await cache.get('other')).toBeUndefined();
    expect(events).toEqual([{ sessionId: 'sid', reason: 'logout' }, { reason: 'all' }]);
  });

  it('reads and writes nothing with TTL 0', async () => {
    const cache = new EventCacheService(resolveOptions({ eventCache: { ttlSeconds: 0 } }));
    expect(cache.enabled).toBe(false);
    await cache.set('sid', ANN);
    expect(cache.peek('sid')).toBeUndefined();
  });

  it('warns at startup that fast auth never applies when it is set with TTL 0, and only then', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const fastAuth = { sessionSecret: 's', loadUser: () => undefined };
      new EventCacheService(resolveOptions({ eventCache: { ttlSeconds: 0 }, fastAuth }));
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/fastAuth.*eventCache\.ttlSeconds is 0.*fast auth never applies/);
      warn.mockClear();
      new EventCacheService(resolveOptions({ eventCache: { ttlSeconds: 0 } }));
      new EventCacheService(resolveOptions({ fastAuth }));
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('property: for any session id, set then peek returns the snapshot at once; invalidate then peek misses', async () => {
    const cache = new EventCacheService(resolveOptions({}));
    await fc.assert(
      fc.asyncProperty(sessionIds, fc.oneof(fc.integer(), fc.string(), fc.constant(null)), async (sid, userId) => {
        const snapshot = { userId, isAuthenticated: userId !== null };
        expect(cache.put(sid, snapshot)).toBeUndefined();
        const found = cache.peek(sid);
        expect(isThenable(found)).toBe(false);
        expect(found).toEqual(timed(snapshot));
        await cache.invalidate(sid);
        expect(cache.peek(sid)).toBeUndefined();
      }),
    );
  });
});

describe('EventCacheService over the app\'s cache-manager Cache', () => {
  it('stores each snapshot under exactly <keyPrefix><session id> in the app\'s cache', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache, { keyPrefix: 'app:rx:' });
    await cache.set('s1', ANN);
    expect(await appCache.get('app:rx:s1')).toEqual(timed(ANN));
    expect(cache.keyOf('s1')).toBe('app:rx:s1');
  });

  it('property: for any session id, set then get returns the snapshot; invalidate then peek misses in both layers', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache);
    await fc.assert(
      fc.asyncProperty(sessionIds, fc.integer(), async (sid, userId) => {
        await cache.set(sid, { userId, isAuthenticated: true });
        expect(await cache.peek(sid)).toEqual(timed({ userId, isAuthenticated: true }));
        expect(cache.peek(sid)).toEqual(timed({ userId, isAuthenticated: true })); // now from the local layer
        await cache.invalidate(sid);
        expect(await cache.peek(sid)).toBeUndefined();
        expect(await appCache.get(`rx:event:${sid}`)).toBeUndefined();
      }),
    );
  });

  it('fills the local layer from a cache hit, not from its own write, and forgetLocally drops only the local copy', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache, { localTtlMs: 60_000 });
    await cache.set('sid', ANN);
    const first = cache.peek('sid');
    expect(isThenable(first)).toBe(true); // this worker's write did not fill its local layer
    expect(await first).toEqual(timed(ANN));
    expect(cache.peek('sid')).toEqual(timed(ANN)); // a hit from the cache did: synchronous now
    // Another worker invalidated the shared entry, and the session-ended signal reached this one.
    await appCache.del('rx:event:sid');
    expect(cache.peek('sid')).toEqual(timed(ANN));
    cache.forgetLocally('sid');
    expect(await cache.peek('sid')).toBeUndefined();
  });

  it('keeps with each snapshot when its session was read, across the app\'s cache and this worker\'s copy', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache, { localTtlMs: 60_000 });
    const readAtMs = Date.now() - 5_000;
    await cache.put('sid', ANN, undefined, readAtMs);
    expect(await appCache.get('rx:event:sid')).toEqual({ ...ANN, readAtMs });
    expect(await cache.peek('sid')).toEqual({ ...ANN, readAtMs });
    expect(cache.peek('sid')).toEqual({ ...ANN, readAtMs }); // the local copy
    // A snapshot written by a version before these times, or by hand: none (too old for any @AuthMaxAge).
    await appCache.set('rx:event:old', ANN);
    await appCache.set('rx:event:odd', { ...ANN, readAtMs: 'yesterday' });
    expect((await cache.peek('old'))?.readAtMs).toBeUndefined();
    expect(await cache.peek('odd')).toEqual(ANN);
    expect(cache.peek('odd')).toEqual({ ...ANN, readAtMs: undefined });
  });

  it('does not refill the local layer with a value read before an invalidation', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache, { localTtlMs: 60_000 });
    await cache.set('sid', ANN);
    const reading = cache.peek('sid');
    await cache.invalidate('sid');
    await reading;
    expect(await cache.peek('sid')).toBeUndefined();
  });

  it('invalidateAll drops the keys under the prefix and keeps the app\'s other keys', async () => {
    const appCache = createCache();
    const cache = withAppCache(appCache);
    await appCache.set('app:setting', 'keep me');
    await appCache.set('rx:events-not-ours', 'keep me too');
    await cache.set('a', ANN);
    await cache.set('b', { userId: null, isAuthenticated: false });
    await cache.invalidateAll();
    expect(await appCache.get('rx:event:a')).toBeUndefined();
    expect(await appCache.get('rx:event:b')).toBeUndefined();
    expect(await appCache.get('app:setting')).toBe('keep me');
    expect(await appCache.get('rx:events-not-ours')).toBe('keep me too');
  });

  it('also over a namespaced Keyv store (CacheModule.register({ stores: [keyv] }))', async () => {
    const appCache = createCache({ stores: [new Keyv({ namespace: 'app' })] });
    const cache = withAppCache(appCache);
    await appCache.set('other', 1);
    await cache.set('a', ANN);
    expect(await appCache.get('rx:event:a')).toEqual(timed(ANN));
    await cache.invalidateAll();
    expect(await appCache.get('rx:event:a')).toBeUndefined();
    expect(await appCache.get('other')).toBe(1);
  });

  it('treats a hanging or failing cache as a miss, and ignores what is not a snapshot', async () => {
    const never = new Promise<never>(() => undefined);
    const hanging = { get: () => never, set: () => never, del: () => never } as unknown as Cache;
    const slow = withAppCache(hanging, { operationTimeoutMs: 20 });
    await slow.set('sid', ANN);
    expect(await slow.peek('sid')).toBeUndefined();
    const failing = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')), del: () => Promise.reject(new Error('down')) } as unknown as Cache;
    const down = withAppCache(failing);
    await down.set('sid', ANN);
    await down.invalidate('sid');
    expect(await down.peek('sid')).toBeUndefined();
    const appCache = createCache();
    await appCache.set('rx:event:odd', { userId: { $gt: '' }, isAuthenticated: 'yes' });
    expect(await withAppCache(appCache).peek('odd')).toBeUndefined();
  });

  it('fails at startup, naming the token, when nothing provides it or it is no Cache', () => {
    const appCache = createCache();
    expect(() => withAppCache(appCache, {}, 'reflex_events').onModuleInit()).not.toThrow();
    const missing = new EventCacheService(resolveOptions({ eventCache: { cache: 'reflex_events' } }), { get: () => { throw new Error('not found'); } } as unknown as ModuleRef);
    expect(() => missing.onModuleInit()).toThrow(InvalidOptionError);
    expect(() => missing.onModuleInit()).toThrow(/eventCache\.cache.*reflex_events/);
    const notACache = new EventCacheService(resolveOptions({ eventCache: { cache: 'reflex_events' } }), { get: () => ({}) } as unknown as ModuleRef);
    expect(() => notACache.onModuleInit()).toThrow(/not a cache-manager Cache/);
  });
});

describe('eventCache options', () => {
  const resolve = (eventCache: EventCacheOptions, extra: ReflexBridgeModuleOptions = {}) => resolveOptions({ ...extra, eventCache }).eventCache;

  it('applies the defaults: a full-TTL local layer in memory, a short one with a shared cache', () => {
    expect(resolve({})).toMatchObject({ ttlSeconds: 60, keyPrefix: 'rx:event:', operationTimeoutMs: 250, localTtlMs: 60_000, localMaxEntries: 10_000, shared: false });
    expect(resolve({}, { redisUrl: 'redis://localhost:6379' })).toMatchObject({ localTtlMs: 1000, shared: true, redisUrl: 'redis://localhost:6379' });
    expect(resolve({ cache: 'reflex_events' }, { redisUrl: 'redis://localhost:6379' })).toMatchObject({ localTtlMs: 1000, shared: true, redisUrl: undefined });
    expect(resolve({ cache: 'reflex_events', ttlSeconds: 0.5 })).toMatchObject({ localTtlMs: 500 });
  });

  it('names the field of an invalid value', () => {
    expect(() => resolve({ keyPrefix: '' })).toThrow('invalid option "eventCache.keyPrefix"');
    expect(() => resolve({ cache: 42 as never })).toThrow('invalid option "eventCache.cache"');
    expect(() => resolve({ cache: 'x', redisUrl: 'redis://localhost:6379' })).toThrow('invalid option "eventCache.cache"');
    expect(() => resolve({ localTtlMs: 61_000 })).toThrow('invalid option "eventCache.localTtlMs"');
    expect(() => resolve({ localTtlMs: -1 })).toThrow('invalid option "eventCache.localTtlMs"');
    expect(() => resolve({ localMaxEntries: 0 })).toThrow('invalid option "eventCache.localMaxEntries"');
    expect(() => resolve({ operationTimeoutMs: 0 })).toThrow('invalid option "eventCache.operationTimeoutMs"');
    expect(() => resolve({ redisUrl: 'localhost' })).toThrow('invalid option "eventCache.redisUrl"');
    expect(() => resolve({ colour: 'red' } as never)).toThrow('invalid option "eventCache.colour"');
  });
});

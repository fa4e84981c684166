import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';
import { EventCacheService } from './event-cache.service.js';

describe('EventCacheService in memory', () => {
  it('answers peek synchronously and get/set/invalidate as before', async () => {
    const cache = new EventCacheService(resolveOptions({}));
    const events: unknown[] = [];
    cache.invalidated$.subscribe((event) => events.push(event));
    expect(cache.enabled).toBe(true);
    await cache.set('sid', { userId: 1, isAuthenticated: true });
    expect(cache.peek('sid')).toEqual({ userId: 1, isAuthenticated: true });
    expect(await cache.get('sid')).toEqual({ userId: 1, isAuthenticated: true });
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
    await cache.set('sid', { userId: 1, isAuthenticated: true });
    expect(cache.peek('sid')).toBeUndefined();
  });
});

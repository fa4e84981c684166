import { describe, expect, it } from '@jest/globals';
import type session from 'express-session';
import { readShopConfig } from '../shop.config.js';
import { eventually } from '../../../../test/support/eventually.js';
import { createSessionStore } from './auth-middleware.js';

const config = readShopConfig({}); // embedded defaults: no REDIS_URL

function count(store: session.Store): Promise<number> {
  return new Promise((resolve) => store.length?.((_error, length) => resolve(length ?? -1)));
}

function put(store: session.Store, sid: string): Promise<void> {
  const data = { cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, passport: { user: 1 } } as unknown as session.SessionData;
  return new Promise((resolve, reject) => store.set(sid, data, (error) => (error ? reject(new Error(String(error))) : resolve())));
}

function stop(store: session.Store): void {
  (store as session.Store & { stopInterval?: () => void }).stopInterval?.();
}

describe('the in-memory session store (no Redis)', () => {
  it('sweeps out sessions idle past their TTL even if nobody reads them again', async () => {
    const store = await createSessionStore(config, { ttlMs: 50, pruneEveryMs: 20, maxSessions: 1000 });
    try {
      for (let i = 0; i < 200; i++) await put(store, `sid-${i}`);
      // Before: express-session's MemoryStore kept all 200 (no cookie maxAge: no expiry at all) for ever.
      await eventually('expired sessions swept out', () => count(store), (n) => n === 0);
    } finally {
      stop(store);
    }
  });

  it('keeps at most maxSessions, dropping the least recently used', async () => {
    const store = await createSessionStore(config, { ttlMs: 60 * 60 * 1000, pruneEveryMs: 60 * 60 * 1000, maxSessions: 50 });
    try {
      for (let i = 0; i < 500; i++) await put(store, `sid-${i}`);
      expect(await count(store)).toBe(50);
      const newest = await new Promise((resolve) => store.get('sid-499', (_error, data) => resolve(data)));
      expect(newest).toMatchObject({ passport: { user: 1 } });
    } finally {
      stop(store);
    }
  });
});

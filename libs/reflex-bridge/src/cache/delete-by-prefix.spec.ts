import { describe, expect, it } from '@jest/globals';
import { Keyv } from 'keyv';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { deleteByPrefix } from './delete-by-prefix.js';

describe('deleteByPrefix', () => {
  it('says it cannot list a @keyv/redis store that would leave keys with "::" out of its listing', async () => {
    // Never connected: the store's listing settings alone decide, before any command is sent.
    const appStore = new KeyvRedis('redis://127.0.0.1:1', { throwOnConnectError: false });
    const cache = createCache({ stores: [new Keyv({ store: appStore, namespace: undefined, useKeyPrefix: false })] });
    try {
      // (Listing such a store would try to connect: raced, so that a regression fails instead of hanging.)
      const listed = await Promise.race([deleteByPrefix(cache, 'shop::event:'), new Promise((resolve) => setTimeout(resolve, 2000, 'listing attempted'))]);
      expect(listed).toBe(false);
    } finally {
      await appStore.disconnect().catch(() => undefined);
    }
  });

  it('deletes the keys under the prefix in an in-memory store, and nothing else', async () => {
    const map = new Map<string, unknown>();
    const cache = createCache({ stores: [new Keyv({ store: map, namespace: undefined, useKeyPrefix: false })] });
    await cache.set('shop::event:a', 1);
    await cache.set('other', 2);
    await expect(deleteByPrefix(cache, 'shop::event:')).resolves.toBe(true);
    expect([...map.keys()]).toEqual(['other']);
  });
});

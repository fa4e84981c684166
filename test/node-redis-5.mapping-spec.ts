/**
 * Runs in the `e2e-node-redis-5` project only (see jest.config.js): proves that there `redis`, as the module and the
 * specs import it, is node-redis 5, so that the specs run beside this one check the module on node-redis 5.
 */
import { expect, it } from '@jest/globals';
import * as redis from 'redis';
import * as redis5 from 'redis-5';

it('resolves `redis` to node-redis 5 (the `redis-5` package), not to the node-redis 6 the repository installs as `redis`', async () => {
  expect(redis.createClient).toBe(redis5.createClient);
  // The module loads `redis` on first use with a dynamic import: the same mapping applies.
  const loaded = await import('redis');
  expect(loaded.createClient).toBe(redis5.createClient);
});

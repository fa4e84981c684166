import { expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { RedisConnections } from '../common/redis-connections.js';

// The optional peer is not installed: importing it fails as Node's resolver does.
jest.unstable_mockModule('@socket.io/redis-adapter', () => {
  throw Object.assign(new Error("Cannot find package '@socket.io/redis-adapter'"), { code: 'ERR_MODULE_NOT_FOUND' });
});
const { ClusterLink } = await import('./cluster-link.js');

it('names the missing @socket.io/redis-adapter package and how to install it', async () => {
  const connections = { isCluster: false } as unknown as RedisConnections;
  await expect(ClusterLink.create(connections, 60, new Logger('test'))).rejects.toThrow(
    'redisUrl and redisCluster need the "@socket.io/redis-adapter" package (8.x): npm install @socket.io/redis-adapter',
  );
});

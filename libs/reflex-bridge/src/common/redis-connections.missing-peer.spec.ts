import { expect, it, jest } from '@jest/globals';

// The optional peer is not installed: importing it fails as Node's resolver does.
jest.unstable_mockModule('redis', () => {
  throw Object.assign(new Error("Cannot find package 'redis'"), { code: 'ERR_MODULE_NOT_FOUND' });
});
const { RedisConnections } = await import('./redis-connections.js');
const { RedisTransport } = await import('../live/transports/redis.transport.js');

// node-redis 6 is outside the peer range (^5): an app that has it (installed before the module) cannot install the
// module (ERESOLVE). The hint names the major the module takes, as the README does.
it('names the missing redis package and the majors it takes, for redisUrl and the shared connections', async () => {
  await expect(RedisConnections.create({ url: 'redis://127.0.0.1:6379' })).rejects.toThrow(
    'Redis support needs the "redis" package (node-redis 5 or 6): npm install redis',
  );
});

it('names the missing redis package and the majors it takes, for a RedisTransport of its own', async () => {
  const transport = new RedisTransport({ url: 'redis://127.0.0.1:6379' });
  await expect(transport.start(() => undefined)).rejects.toThrow('RedisTransport needs the "redis" package (node-redis 5 or 6): npm install redis');
});

/**
 * test/support/redis-server itself: the Redis a spec gets is the redis-server it started, never another process that
 * answers PING on the same port.
 *
 * Needs redis-server (`apt-get install -y redis-server`). Without it the spec is skipped, except under CI=true, where
 * it fails.
 */
import { expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

describeWithRedis('test/support/redis-server: a real redis-server per spec', () => {
  it("fails to start on a port another process took while it was stopped, instead of handing back that process's server", async () => {
    const server = await RedisTestServer.launch();
    // Another process on the port, answering PING as a Redis would.
    const squatter = createServer((socket) => socket.on('data', () => socket.write('+PONG\r\n')));
    try {
      await server.stop();
      await new Promise<void>((resolve) => squatter.listen(server.port, '127.0.0.1', resolve));
      // Before: start() resolved on the squatter's PONG while its own redis-server exited on the bind.
      await expect(server.start()).rejects.toThrow(/Address already in use/);
      expect(server.running).toBe(false);
    } finally {
      squatter.close();
      await server.destroy();
    }
  }, 60_000);
});

import { describe, expect, it } from '@jest/globals';
import { RedisConnections } from './redis-connections.js';
import { freePort } from '../../../../test/support/ports.js';

const silent = { log: () => undefined, error: () => undefined, warn: () => undefined };

// No Redis server needed here: the connections against a real Redis are in test/redis-*.e2e-spec.ts.
describe('RedisConnections options', () => {
  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', async () => {
    await expect(RedisConnections.create({ url: 'redis://x', connectTimeout: 100 } as never)).rejects.toThrow(
      'RedisConnections: unknown option "connectTimeout" (it takes "url", "cluster", "namePrefix", "connectTimeoutMs", "maxReconnectDelayMs", ' +
        '"maxPendingCommands", "maxPendingPublishBytes", "subscriberCheckIntervalMs", "commandsCheckIntervalMs", "logger")',
    );
    await expect(RedisConnections.create({ cluster: { rootNodes: ['redis://x:7000'], waitReplica: 0 } as never })).rejects.toThrow(
      'RedisConnections: unknown option "cluster.waitReplica" (it takes "cluster.rootNodes", "cluster.defaults", "cluster.waitReplicas", "cluster.waitTimeoutMs", "cluster.nodeAddressMap")',
    );
    await expect(RedisConnections.create({ url: 'redis://x', cluster: 'redis://x' } as never)).rejects.toThrow(/give either "url" or "cluster"/);
    await expect(RedisConnections.create({ cluster: 'redis://x:7000' } as never)).rejects.toThrow('RedisConnections: "cluster" must be an object, got string');
    // Every known option is taken.
    const port = await freePort();
    const connections = await RedisConnections.create({
      url: `redis://127.0.0.1:${port}`,
      namePrefix: 'app:',
      connectTimeoutMs: 1_000,
      maxReconnectDelayMs: 100,
      maxPendingCommands: 10,
      maxPendingPublishBytes: 1_000,
      subscriberCheckIntervalMs: 1_000,
      commandsCheckIntervalMs: 1_000,
      logger: silent,
    });
    await connections.close();
  });

  it('refuses cluster values the module\'s redisCluster refuses, naming them: a negative waitReplicas made every save fail', async () => {
    const rootNodes = ['redis://127.0.0.1:7000'];
    for (const [cluster, message] of [
      [{ rootNodes, waitReplicas: -1 }, '"cluster.waitReplicas" must be an integer ≥ 0, got -1'],
      [{ rootNodes, waitReplicas: 1.5 }, '"cluster.waitReplicas" must be an integer ≥ 0, got 1.5'],
      [{ rootNodes, waitTimeoutMs: '1000' }, '"cluster.waitTimeoutMs" must be a positive integer of milliseconds up to 2147483647, got "1000"'],
      [{ rootNodes, waitTimeoutMs: 0 }, '"cluster.waitTimeoutMs" must be a positive integer of milliseconds up to 2147483647, got 0'],
      [{ rootNodes, defaults: 'password' }, '"cluster.defaults" must be an object, got string'],
      [{ rootNodes, nodeAddressMap: [] }, '"cluster.nodeAddressMap" must be an object, got an array'],
    ] as const) {
      await expect(RedisConnections.create({ cluster } as never)).rejects.toThrow(`RedisConnections: ${message}`);
    }
  });
});

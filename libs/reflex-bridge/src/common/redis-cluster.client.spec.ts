import { describe, expect, it } from '@jest/globals';
import { firstKeyOf, RedisClusterClient, type RedisCluster } from './redis-cluster.client.js';

/** A node-redis cluster client that answers each `sendCommand` with the next of `replies` (an Error rejects). */
function fakeCluster(replies: unknown[]): { cluster: RedisCluster; calls: () => number } {
  let calls = 0;
  const cluster = {
    on: () => cluster,
    sendCommand: async () => {
      calls++;
      const reply = replies.shift();
      if (reply instanceof Error) throw reply;
      return reply;
    },
  };
  return { cluster: cluster as unknown as RedisCluster, calls: () => calls };
}

describe('firstKeyOf (how RedisClusterClient routes a raw command)', () => {
  it('routes a script call by its first key, and one without keys anywhere', () => {
    expect(firstKeyOf(['EVALSHA', 'abc', '2', 'rx:state:v2:{t}:lock', 'rx:state:v2:{t}', 'value'])).toBe('rx:state:v2:{t}:lock');
    expect(firstKeyOf(['eval', 'return 1', '1', 'k', 'a'])).toBe('k');
    expect(firstKeyOf(['EVAL', 'return 1', '0', 'not-a-key'])).toBeUndefined();
  });

  it('routes a key command by its first argument', () => {
    expect(firstKeyOf(['HGETALL', 'rx:state:v2:{t}'])).toBe('rx:state:v2:{t}');
    expect(firstKeyOf(['PING'])).toBeUndefined();
  });
});

describe('RedisClusterClient.sendCommand during a slot migration', () => {
  const tryAgain = () => new Error('TRYAGAIN Multiple keys request during rehashing of slot');

  it('sends a command refused with TRYAGAIN again until it runs', async () => {
    const { cluster, calls } = fakeCluster([tryAgain(), tryAgain(), 'OK']);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '2', 'rx:{t}:lock', 'rx:{t}'])).resolves.toBe('OK');
    expect(calls()).toBe(3);
  });

  it('does not send again a command refused for another reason', async () => {
    const { cluster, calls } = fakeCluster([new Error('NOSCRIPT No matching script'), 'OK']);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '1', 'k'])).rejects.toThrow('NOSCRIPT');
    expect(calls()).toBe(1);
  });

  it('rejects with the error of the last try when a retry fails otherwise', async () => {
    const { cluster, calls } = fakeCluster([tryAgain(), new Error('CLUSTERDOWN The cluster is down')]);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '1', 'k'])).rejects.toThrow('CLUSTERDOWN');
    expect(calls()).toBe(2);
  });
});

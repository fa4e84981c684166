import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from '../invalid-option.error.js';
import { resolveOptions } from '../reflex-bridge.options.js';

const ROOT_NODES = ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'];

describe('the redisCluster option', () => {
  it('is off by default, and resolved with its defaults when given', () => {
    expect(resolveOptions().redisCluster).toBeUndefined();
    expect(resolveOptions({ redisCluster: { rootNodes: ROOT_NODES } }).redisCluster).toEqual({
      rootNodes: ROOT_NODES,
      defaults: undefined,
      waitReplicas: 1,
      waitTimeoutMs: 1000,
      nodeAddressMap: undefined,
    });
    const defaults = { password: 'secret', socket: { tls: true } };
    expect(resolveOptions({ redisCluster: { rootNodes: ['rediss://a:6380'], defaults, waitReplicas: 0 } }).redisCluster).toMatchObject({ defaults, waitReplicas: 0 });
  });

  it('refuses redisUrl and redisCluster together, naming both', () => {
    const both = () => resolveOptions({ redisUrl: 'redis://localhost:6379', redisCluster: { rootNodes: ROOT_NODES } });
    expect(both).toThrow(InvalidOptionError);
    expect(both).toThrow(/"redisCluster".*redisUrl.*redisCluster/);
  });

  it.each([
    [{ rootNodes: [] }, 'redisCluster.rootNodes'],
    [{ rootNodes: 'redis://a:7000' }, 'redisCluster.rootNodes'],
    [{ rootNodes: ['http://a:7000'] }, 'redisCluster.rootNodes[0]'],
    [{ rootNodes: ['redis://a:7000', 42] }, 'redisCluster.rootNodes[1]'],
    [{ rootNodes: ROOT_NODES, defaults: 'x' }, 'redisCluster.defaults'],
    [{ rootNodes: ROOT_NODES, defaults: { url: 'redis://a' } }, 'redisCluster.defaults'],
    [{ rootNodes: ROOT_NODES, waitReplicas: -1 }, 'redisCluster.waitReplicas'],
    [{ rootNodes: ROOT_NODES, waitReplicas: 1.5 }, 'redisCluster.waitReplicas'],
    [{ rootNodes: ROOT_NODES, waitTimeoutMs: 0 }, 'redisCluster.waitTimeoutMs'],
    [{ rootNodes: ROOT_NODES, nodeAddressMap: [] }, 'redisCluster.nodeAddressMap'],
    [{ rootNodes: ROOT_NODES, useReplicas: true }, 'redisCluster.useReplicas'],
    ['redis://a:7000', 'redisCluster'],
  ])('refuses %j, naming %s', (redisCluster, field) => {
    expect(() => resolveOptions({ redisCluster: redisCluster as never })).toThrow(`invalid option "${field}"`);
  });

  it('never repeats a refused node URL, which may hold a password', () => {
    for (const url of ['http://:s3cret-pass@a:7000', 'redis://:s3cret-pass@', 'redis:/:s3cret-pass@a:7000']) {
      const refused = () => resolveOptions({ redisCluster: { rootNodes: ['redis://a:7000', url] } });
      expect(refused).toThrow('invalid option "redisCluster.rootNodes[1]"');
      expect(refused).not.toThrow(/s3cret-pass/);
    }
    expect(() => resolveOptions({ redisCluster: { rootNodes: [42 as never] } })).toThrow(/got number/);
  });

  it('puts the event cache on the cluster, and asks for a Redis of its own for the session-store watcher', () => {
    const options = resolveOptions({ redisCluster: { rootNodes: ROOT_NODES } });
    expect(options.eventCache).toMatchObject({ shared: true, onModuleCluster: true, redisUrl: undefined });
    expect(() => resolveOptions({ redisCluster: { rootNodes: ROOT_NODES }, sessionStore: {} })).toThrow(/"sessionStore.redisUrl".*keyspace notifications/);
    expect(resolveOptions({ redisCluster: { rootNodes: ROOT_NODES }, sessionStore: { redisUrl: 'redis://sessions:6379' } }).sessionStore).toMatchObject({ redisUrl: 'redis://sessions:6379' });
  });
});

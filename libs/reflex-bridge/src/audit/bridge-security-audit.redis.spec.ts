import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { resolveOptions } from '../reflex-bridge.options.js';
import { RedisStateStore, type RedisMemorySettings } from '../state/store/redis-state.store.js';
import { BridgeSecurityAudit } from './bridge-security-audit.service.js';

/**
 * What the audit says of the module's Redis: its memory settings, server by server (one Redis, the masters of a Redis
 * Cluster; the real Redis and cluster cases run in test/security-audit.e2e-spec.ts and
 * test/redis-cluster-memory-limit.e2e-spec.ts, here the store's answer is given so every shape of it is covered), and
 * a Redis on another host reached without a password (read from the options: such an app never connects here).
 */
describe("BridgeSecurityAudit: the module's Redis (memory settings, password)", () => {
  const stores: RedisStateStore[] = [];
  const warnings: string[] = [];
  afterEach(async () => {
    jest.restoreAllMocks();
    warnings.splice(0);
    for (const store of stores.splice(0)) await store.close();
  });

  /** The findings of a production audit whose Redis store answers `settings` (never connected). */
  async function findingsFor(settings: RedisMemorySettings | undefined) {
    const store = new RedisStateStore({ url: 'redis://127.0.0.1:1' });
    stores.push(store);
    jest.spyOn(store, 'memorySettings').mockResolvedValue(settings);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const audit = new BridgeSecurityAudit(resolveOptions({ production: true, audit: 'warn' }), store);
    await audit.onApplicationBootstrap();
    audit.onApplicationShutdown();
    return audit.findings().filter((finding) => finding.code.startsWith('redis_'));
  }
  const server = (name: string, maxmemory: number, policy = 'noeviction') => ({ name, maxmemory, policy });

  it('says nothing of a bounded, non-evicting Redis, nor when Redis could not be read', async () => {
    expect(await findingsFor({ servers: [server('redis://127.0.0.1:6379', 2 ** 31)], limitBytes: 'auto' })).toEqual([]);
    expect(await findingsFor(undefined)).toEqual([]);
  });

  it('names one Redis without maxmemory unless the store has a limit in bytes, and says which limit is off', async () => {
    const [auto] = await findingsFor({ servers: [server('redis://127.0.0.1:6379', 0)], limitBytes: 'auto' });
    expect(auto).toMatchObject({ code: 'redis_maxmemory_unset', problem: expect.stringMatching(/^The state store's Redis has no maxmemory, and the state store's limit .* is off$/) });
    const [off] = await findingsFor({ servers: [server('redis://127.0.0.1:6379', 0)], limitBytes: false });
    expect(off?.problem).toMatch(/redisMemoryLimitBytes is false$/);
    expect(await findingsFor({ servers: [server('redis://127.0.0.1:6379', 0)], limitBytes: 50_000_000 })).toEqual([]);
  });

  it('names a Redis on another host reached without a password, and not one on this machine or with one', async () => {
    const audit = async (options: Parameters<typeof resolveOptions>[0]) => {
      const store = new RedisStateStore({ url: 'redis://127.0.0.1:1' });
      stores.push(store);
      jest.spyOn(store, 'memorySettings').mockResolvedValue(undefined);
      const audited = new BridgeSecurityAudit(resolveOptions({ production: true, audit: 'warn', ...options }), store);
      await audited.onApplicationBootstrap();
      audited.onApplicationShutdown();
      return audited.findings().filter((finding) => finding.code === 'redis_without_password');
    };
    const [open] = await audit({ redisUrl: 'redis://10.0.0.5:6379', sessionStore: { redisUrl: 'redis://:pw@10.0.0.6:6379' } });
    expect(open?.problem).toBe('The module reaches Redis at 10.0.0.5:6379 without a password, so that Redis lets anyone in');
    expect(await audit({ redisUrl: 'redis://app:pw@10.0.0.5:6379' })).toEqual([]);
    expect(await audit({ redisUrl: 'redis://127.0.0.1:6379' })).toEqual([]);
    const [cluster] = await audit({ redisCluster: { rootNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] }, sessionStore: { redisUrl: 'redis://:pw@10.0.0.9:6379' } });
    expect(cluster?.problem).toMatch(/^The module reaches Redis at 10\.0\.0\.1:7000, 10\.0\.0\.2:7000 without a password/);
    expect(await audit({ redisCluster: { rootNodes: ['redis://10.0.0.1:7000'], defaults: { password: 'pw' } }, sessionStore: { redisUrl: 'redis://:pw@10.0.0.9:6379' } })).toEqual([]);
  });

  it('names the masters of a cluster that have no maxmemory or evict, and only those', async () => {
    const findings = await findingsFor({
      servers: [server('10.0.0.1:7000', 2 ** 31), server('10.0.0.2:7000', 0, 'allkeys-lru'), server('10.0.0.3:7000', 0, 'volatile-ttl')],
      limitBytes: 'auto',
    });
    expect(findings.map((finding) => [finding.code, finding.problem])).toEqual([
      ['redis_maxmemory_unset', expect.stringMatching(/^The Redis Cluster masters 10\.0\.0\.2:7000, 10\.0\.0\.3:7000 of the state store have no maxmemory/)],
      ['redis_evicts_keys', 'The Redis Cluster masters 10.0.0.2:7000, 10.0.0.3:7000 of the state store have maxmemory-policy allkeys-lru, volatile-ttl'],
    ]);
    // Each is logged once, with its code first.
    expect(warnings.filter((line) => line.startsWith('[redis_'))).toHaveLength(2);
    const [one] = await findingsFor({ servers: [server('10.0.0.1:7000', 2 ** 31), server('10.0.0.2:7000', 2 ** 31, 'allkeys-lfu')], limitBytes: 'auto' });
    expect(one?.problem).toBe('The Redis Cluster master 10.0.0.2:7000 of the state store has maxmemory-policy allkeys-lfu');
  });
});

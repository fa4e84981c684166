/**
 * The state store's memory limit (`memoryLimitBytes`, the module's `redisMemoryLimitBytes`) on a REAL Redis Cluster
 * (test/support/redis-cluster.ts): each master holds part of the states and has its own memory, so each is read,
 * held to the limit and swept on its own. Without it, clients that open tabs and leave them fill the masters, and a
 * full master (under `noeviction`) fails the events of every user whose token lives there.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { RedisStateStore } from '../libs/reflex-bridge/src/state/store/redis-state.store.js';
import type { StateLease } from '../libs/reflex-bridge/src/state/store/state-store.js';
import { CapturingLogger } from './support/app.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

const TABS = 300;
const STATE_BYTES = 30_000;
const PATTERN = 'rx:state:v2:{*}';

describeWithRedisCluster('RedisStateStore: the memory limit on a Redis Cluster, master by master', () => {
  let cluster: RedisTestCluster;
  let connections: RedisConnections;
  const stores: RedisStateStore[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    connections = await RedisConnections.create({ cluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 }, logger });
  }, 180_000);

  afterAll(async () => {
    for (const store of stores.splice(0)) await store.close();
    await connections?.close();
    await cluster?.destroy();
  }, 60_000);

  const store = async (memoryLimitBytes: number | false) => {
    // The periodic check is left far off: the test asks for its check, so it knows when one ran.
    const made = new RedisStateStore({ connections, logger, lockLingerMs: 0, memoryLimitBytes, memoryCheckIntervalMs: 600_000 });
    stores.push(made);
    await made.connect();
    return made;
  };
  /** What a master holds against its maxmemory: its replica's backlog is not counted (as Redis counts it). */
  const usedMemory = async (port: number) => {
    const info = await cluster.cli(port, 'INFO', 'memory');
    return Number(/^used_memory:(\d+)/m.exec(info)![1]) - Number(/^mem_not_counted_for_evict:(\d+)/m.exec(info)![1]);
  };
  const statesOn = async (port: number) => Number((await cluster.cli(port, 'EVAL', "return #redis.call('KEYS', ARGV[1])", '0', PATTERN)).trim());
  const stateExists = async (port: number, token: string) => (await cluster.cli(port, '-c', 'EXISTS', `rx:state:v2:{${token}}`)).trim() === '1';

  it('reads each master, and drops what nobody uses on every master that is over the limit; never a state under a lock', async () => {
    const writer = await store(false);
    // The server list the audit reads: every master, none with a maxmemory (Redis's default), none evicting.
    const settings = await writer.memorySettings();
    expect(settings?.servers).toHaveLength(3);
    expect(settings?.servers.every((server) => server.maxmemory === 0 && server.policy === 'noeviction')).toBe(true);

    const held: StateLease[] = [];
    for (const token of ['held-0', 'held-1', 'held-2']) {
      const lease = await writer.acquire(token);
      await lease.save({ page: { text: token.padEnd(STATE_BYTES, 'x') } });
      held.push(lease);
    }
    for (let i = 0; i < TABS; i++) {
      const lease = await writer.acquire(`tab-${i}`);
      await lease.save({ page: { text: `tab-${i}`.padEnd(STATE_BYTES, 'x') } }, { provisional: true });
      await lease.release();
    }
    const masters = await cluster.masterPorts();
    expect(masters).toHaveLength(3);
    const before = new Map<number, number>();
    for (const port of masters) before.set(port, await statesOn(port));
    // Every master holds about a third of them.
    for (const port of masters) expect(before.get(port)).toBeGreaterThan(TABS / 6);
    const used = await Promise.all(masters.map(usedMemory));
    // A limit every master is over by a megabyte or more: none can stay as it is, each has room to make.
    const limit = Math.min(...used) - 1_000_000;

    const guarded = await store(limit);
    await guarded.checkMemory();

    const over: { port: number; used: number }[] = [];
    for (const port of masters) {
      const now = await usedMemory(port);
      if (now > limit) over.push({ port, used: now });
      expect(await statesOn(port)).toBeLessThan(before.get(port)!);
    }
    expect({ limit, over }).toEqual({ limit, over: [] });
    expect(guarded.droppedOverMemoryLimit).toBeGreaterThan(0);
    for (const [index, lease] of held.entries()) {
      expect(await stateExists(masters[0]!, `held-${index}`)).toBe(true);
      await lease.release();
    }
    const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.includes('over the state store\'s memory limit'));
    // One line a minute at most: it names the master it swept first and counts what was dropped.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/Redis \(127\.0\.0\.1:\d+\) used .* dropped \d+ states nobody was using/);
  });
});

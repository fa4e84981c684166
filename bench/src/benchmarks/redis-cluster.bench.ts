// Past one Redis: the module on a Redis Cluster (`redisCluster`, three masters with a replica each). Reports (a) how
// evenly 10,000 tokens' keys spread over the masters (the RedisStateStore writes them; DBSIZE of each master), and
// (b) Redis commands per event (INFO commandstats of the masters over N events / N) on the cluster against one
// Redis, same handler, one client. A 2-core machine says nothing about throughput scaling: none is claimed.
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { RedisConnections, RedisStateStore } from '@reflex-bridge/nest';
import { isMain, runBenchmarks, type Benchmark } from '../harness/benchmark.js';
import { compared, reported, unavailable, type BenchResult } from '../harness/results.js';
import { HYDRATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';
import { EXT_STATES } from '../ext/ext-states.js';
import { startExtServer, type ExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';
import { commandCalls, RedisClusterProcess } from '../ext/redis-cluster-process.js';

const TOKENS = 10_000;
const EVENTS = 2_000;
const WARM_UP = 200;
const ROUTER_DATA = { pathname: '/', asPath: '/', query: {} };
/** Not sent by the app: our own INFO, and the replicas' acknowledgements (REPLCONF ACK) a master counts. */
const NOT_THE_APPS = new Set(['info', 'replconf']);
/** The commands a worker sends itself on the event path (the others in commandstats run inside its Lua scripts). */
const REQUESTS = new Set(['evalsha', 'eval', 'wait']);

/** Writes TOKENS tokens' states through the store on the cluster, then counts the keys on each master. */
async function spread(cluster: RedisClusterProcess): Promise<number[]> {
  const connections = await RedisConnections.create({ cluster: { rootNodes: cluster.rootNodes } });
  await connections.ready();
  // No lingering lock: only the state hashes stay behind, one key per token.
  const store = new RedisStateStore({ connections, lockLingerMs: 0 });
  try {
    let next = 0;
    const worker = async () => {
      while (next < TOKENS) {
        next++;
        const lease = await store.acquire(randomUUID());
        await lease.save({ 'bench.state': { n: 1 } });
        await lease.release();
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  } finally {
    await store.close();
    await connections.close();
  }
  const counts: number[] = [];
  for (const port of await cluster.masterPorts()) counts.push(Number((await cluster.cli(port, 'DBSIZE')).trim()));
  return counts;
}

/** One client, one event at a time: resolves with the reply to each `bump`. */
class Driver {
  private readonly socket: Socket;
  private waiting?: (ok: boolean) => void;

  constructor(url: string) {
    this.socket = io(`${url}/_event`, { path: '/_event', transports: ['websocket'], query: { token: randomUUID() }, reconnection: false, forceNew: true });
    this.socket.on('event', (update: { delta?: Record<string, Record<string, unknown>> }) => {
      if (update.delta) this.waiting?.(true);
    });
    this.socket.on('bridge_error', () => this.waiting?.(false));
  }

  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
    this.socket.emit('event', { name: HYDRATE, payload: {}, router_data: ROUTER_DATA });
    await new Promise<void>((resolve) => {
      const onUpdate = (update: { delta?: Record<string, Record<string, unknown>> }) => {
        if (update.delta?.[ROOT]?.['is_hydrated_rx_state_'] !== true) return;
        this.socket.off('event', onUpdate);
        resolve();
      };
      this.socket.on('event', onUpdate);
      this.socket.emit('event', { name: ON_LOAD_INTERNAL, payload: {}, router_data: ROUTER_DATA });
    });
  }

  /** Sends `n` events one after the other; rejects on a bridge_error. */
  async bump(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        this.waiting = resolve;
        this.socket.emit('event', { name: `${EXT_STATES.store}.bump`, payload: {}, router_data: ROUTER_DATA });
      });
      this.waiting = undefined;
      if (!ok) throw new Error('bump answered bridge_error');
    }
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** Redis commands per event on `server`, counted on `ports` (and the commands behind them, most frequent first). */
async function commandsPerEvent(server: ExtServer, cli: RedisClusterProcess['cli'], ports: number[]): Promise<{ perEvent: number; requests: number; mix: string }> {
  const driver = new Driver(server.server.url);
  try {
    await driver.open();
    await driver.bump(WARM_UP);
    const before = await commandCalls(cli, ports);
    await driver.bump(EVENTS);
    const after = await commandCalls(cli, ports);
    let total = 0;
    let requests = 0;
    const mix: [string, number][] = [];
    for (const [name, calls] of after) {
      if (NOT_THE_APPS.has(name)) continue;
      const delta = calls - (before.get(name) ?? 0);
      if (delta <= 0) continue;
      total += delta;
      if (REQUESTS.has(name)) requests += delta;
      mix.push([name, delta / EVENTS]);
    }
    mix.sort((x, y) => y[1] - x[1]);
    const shown = mix.filter(([, per]) => per >= 0.005);
    return { perEvent: total / EVENTS, requests: requests / EVENTS, mix: shown.map(([name, per]) => `${name} ${per.toFixed(2)}`).join(', ') };
  } finally {
    driver.close();
  }
}

async function run(): Promise<BenchResult[]> {
  const cluster = await RedisClusterProcess.start();
  if ('unavailable' in cluster) {
    return [
      unavailable('redis-cluster/spread/max_over_mean', 'ratio', undefined, cluster.unavailable),
      unavailable('redis-cluster/commands_per_event', 'commands/event', undefined, cluster.unavailable),
    ];
  }
  const single = await RedisProcess.start();
  const servers: ExtServer[] = [];
  try {
    const counts = await spread(cluster);
    const mean = counts.reduce((sum, count) => sum + count, 0) / counts.length;
    const rows: BenchResult[] = counts.map((count, i) => reported(`redis-cluster/spread/master_${i + 1}_keys`, count, 'keys', undefined, `of ${TOKENS} tokens' states`));
    rows.push(reported('redis-cluster/spread/max_over_mean', Math.max(...counts) / mean, 'ratio', undefined, `${TOKENS} tokens over ${counts.length} masters (1.000 = perfectly even)`));

    const onCluster = await startExtServer('store redis-cluster', { kind: 'store', redisCluster: cluster.rootNodes });
    servers.push(onCluster);
    const clusterFigure = await commandsPerEvent(onCluster, (port, ...args) => cluster.cli(port, ...args), await cluster.masterPorts());
    if ('unavailable' in single) {
      rows.push(reported('redis-cluster/commands_per_event', clusterFigure.perEvent, 'commands/event', undefined, `one Redis not measured (${single.unavailable}); on the cluster: ${clusterFigure.mix}`));
      return rows;
    }
    const onSingle = await startExtServer('store redis', { kind: 'store', redisUrl: single.url });
    servers.push(onSingle);
    const singlePort = Number(new URL(single.url).port);
    const singleFigure = await commandsPerEvent(onSingle, (port, ...args) => cluster.cli(port, ...args), [singlePort]);
    rows.push(
      reported('redis-cluster/one_redis/commands_per_event', singleFigure.perEvent, 'commands/event', undefined, `baseline: redisUrl; INFO commandstats over ${EVENTS} events, commands inside Lua scripts included: ${singleFigure.mix}`),
      compared('redis-cluster/commands_per_event', clusterFigure.perEvent, singleFigure.perEvent, 'commands/event', undefined, `redisCluster (waitReplicas 1), summed over the masters: ${clusterFigure.mix}`),
      compared('redis-cluster/requests_per_event', clusterFigure.requests, singleFigure.requests, 'requests/event', undefined, 'commands the worker sends (EVALSHA, EVAL, WAIT): the round trips behind the figure above'),
    );
    return rows;
  } finally {
    await Promise.all(servers.map(({ server }) => server.stop()));
    if (!('unavailable' in single)) await single.stop();
    await cluster.stop();
  }
}

export const redisClusterBenchmark: Benchmark = {
  id: 'redis-cluster',
  title: 'Redis Cluster (3 masters + 3 replicas): key spread of 10,000 tokens, Redis commands per event vs one Redis',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([redisClusterBenchmark], process.argv.slice(2));

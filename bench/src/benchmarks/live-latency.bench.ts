// Issue 6: live update delivery latency, publish → client receipt, for 1, 100 and 1,000 subscribers, through
// the in-process transport (baseline) and the Redis transport (ratio Redis / in-process).
import { isMain, runBenchmarks, sleep, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { compared, reported, unavailable, type BenchResult } from '../harness/results.js';
import { RpcChild } from '../harness/rpc.js';
import { startExtServer, type ExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';

const SUBSCRIBER_MAIN = new URL('../ext/live-subscriber.js', import.meta.url);
const COUNTS = [1, 100, 1000];
const PUBLISHES = 20;

interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
}

/** Subscribes `clients` sockets in a separate process, publishes PUBLISHES changes, returns the latencies. */
async function measureDelivery(server: ExtServer, clients: number): Promise<LatencyStats> {
  const subscribers = RpcChild.fork(`live subscribers ×${clients}`, SUBSCRIBER_MAIN);
  try {
    await subscribers.call('setup', { url: server.server.url, clients }, 120_000);
    const deadline = Date.now() + 30_000;
    while ((await server.child.call<number>('subscribers')) < clients) {
      if (Date.now() > deadline) throw new Error(`only some of ${clients} subscriptions started`);
      await sleep(50);
    }
    await server.child.call('publish'); // warm-up change, not measured
    await sleep(300);
    await subscribers.call('reset');
    for (let i = 0; i < PUBLISHES; i++) {
      await server.child.call('publish');
      await sleep(clients >= 1000 ? 150 : 50); // let each fan-out finish: we time delivery, not a backlog
    }
    const expected = clients * PUBLISHES;
    const until = Date.now() + 20_000;
    let stats = await subscribers.call<LatencyStats>('stats');
    while (stats.count < expected && Date.now() < until) {
      await sleep(100);
      stats = await subscribers.call<LatencyStats>('stats');
    }
    if (stats.count < expected) throw new Error(`${stats.count} of ${expected} deliveries arrived`);
    return stats;
  } finally {
    await subscribers.call('close').catch(() => undefined);
    await subscribers.shutdown();
  }
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const redis = await RedisProcess.start();
  const servers: ExtServer[] = [];
  try {
    const inProcess = await startExtServer('live in-process', { kind: 'live' });
    servers.push(inProcess);
    const viaRedis = 'unavailable' in redis ? undefined : await startExtServer('live redis', { kind: 'live', redisUrl: redis.url });
    if (viaRedis) servers.push(viaRedis);
    for (const clients of COUNTS) {
      context.log(`live-latency: ${clients} subscriber(s), in-process`);
      const base = await measureDelivery(inProcess, clients);
      results.push(
        reported(`live-latency/in_process/${clients}/p50`, base.p50, 'ms', undefined, `baseline: in-process transport, ${clients} subscriber(s), ${PUBLISHES} changes`),
        reported(`live-latency/in_process/${clients}/p99`, base.p99, 'ms'),
      );
      if (!viaRedis) {
        results.push(unavailable(`live-latency/redis/${clients}/p50`, 'ms', undefined, 'redis-server not installed'));
        continue;
      }
      context.log(`live-latency: ${clients} subscriber(s), Redis`);
      const measured = await measureDelivery(viaRedis, clients);
      results.push(
        compared(`live-latency/redis/${clients}/p50`, measured.p50, base.p50, 'ms', undefined, 'Redis pub/sub transport, local redis-server'),
        compared(`live-latency/redis/${clients}/p99`, measured.p99, base.p99, 'ms'),
      );
    }
    return results;
  } finally {
    await Promise.all(servers.map(({ server }) => server.stop()));
    if (!('unavailable' in redis)) await redis.stop();
  }
}

export const liveLatencyBenchmark: Benchmark = {
  id: 'live-latency',
  title: 'issue 6: live update delivery latency (publish → client), in-process and Redis transports',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([liveLatencyBenchmark], process.argv.slice(2));

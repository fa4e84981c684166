// Issue 5: `auth_only` per-event cost with and without fast auth, sessions in Redis through connect-redis
// (event cache in Redis too); and delta bytes per event with and without `preset: 'lean'` (AppState state).
import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { compared, reported, unavailable, type BenchResult } from '../harness/results.js';
import { BENCH_LOGIN, event } from '../harness/wire.js';
import { EXT_STATES } from '../ext/ext-states.js';
import { startExtServer, type ExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';

async function run(context: BenchContext): Promise<BenchResult[]> {
  const redis = await RedisProcess.start();
  if ('unavailable' in redis) {
    return [unavailable('fast-auth/redis_sessions/throughput', 'events/s', undefined, redis.unavailable)];
  }
  const servers: ExtServer[] = [];
  try {
    const slow = await startExtServer('sessions slow', { kind: 'session', redisUrl: redis.url, fastAuth: false });
    servers.push(slow);
    const fast = await startExtServer('sessions fast', { kind: 'session', redisUrl: redis.url, fastAuth: true });
    servers.push(fast);
    const lean = await startExtServer('sessions fast lean', { kind: 'session', redisUrl: redis.url, fastAuth: true, preset: 'lean' });
    servers.push(lean);
    const workload = [event(`${EXT_STATES.auth}.bump`)];
    const { clients } = context.options;
    const load = (url: string, n: number, measureBytes = false) => ({ url, clients: n, hydrate: true, login: BENCH_LOGIN, workload, measureBytes });
    const plan = [
      { key: 'slow latency', server: slow.server, load: load(slow.server.url, 1) },
      { key: 'fast latency', server: fast.server, load: load(fast.server.url, 1, true) },
      { key: 'lean latency', server: lean.server, load: load(lean.server.url, 1, true) },
      { key: 'slow throughput', server: slow.server, load: load(slow.server.url, clients) },
      { key: 'fast throughput', server: fast.server, load: load(fast.server.url, clients) },
    ];
    // One round (the harness default is two) keeps this benchmark under ~40 s.
    const measured = await measurePlan({ ...context, options: { ...context.options, rounds: 1 } }, plan);
    const get = (key: string) => measured.get(key)!;
    const results: BenchResult[] = [
      reported('fast-auth/redis_sessions/slow/latency_p50', get('slow latency').latency.p50, 'ms', undefined, 'baseline: auth_only, session middleware + connect-redis on every event, one client'),
      reported('fast-auth/redis_sessions/slow/throughput', get('slow throughput').throughput, 'events/s', undefined, `baseline: auth_only without fast auth, ${clients} clients`),
      compared('fast-auth/redis_sessions/fast/latency_p50', get('fast latency').latency.p50, get('slow latency').latency.p50, 'ms', undefined, 'fast auth, snapshot in the Redis event cache'),
      compared('fast-auth/redis_sessions/fast/latency_p99', get('fast latency').latency.p99, get('slow latency').latency.p99, 'ms'),
      compared('fast-auth/redis_sessions/fast/throughput', get('fast throughput').throughput, get('slow throughput').throughput, 'events/s', undefined,
        `session middleware ran on ${(get('fast throughput').sessionRunsPerEvent * 100).toFixed(0)}% of events (slow: ${(get('slow throughput').sessionRunsPerEvent * 100).toFixed(0)}%)`),
      compared('fast-auth/redis_sessions/fast/server_cpu', get('fast latency').serverCpuPerEventUs, get('slow latency').serverCpuPerEventUs, 'us/event'),
    ];
    const defaultBytes = get('fast latency').bytesPerReply;
    const leanBytes = get('lean latency').bytesPerReply;
    if (defaultBytes === undefined || leanBytes === undefined) {
      results.push(unavailable('fast-auth/lean/delta_bytes', 'bytes', undefined, 'the load generator reported no reply sizes'));
    } else {
      results.push(
        reported('fast-auth/default/delta_bytes', defaultBytes, 'bytes', undefined, 'baseline: JSON size of each `event` reply, AppState-derived auth_only state, default preset'),
        compared('fast-auth/lean/delta_bytes', leanBytes, defaultBytes, 'bytes', undefined, "same handler, preset: 'lean'"),
      );
    }
    results.push(otherLoadFigure('fast-auth/machine_other_load', measured.values()));
    return results;
  } finally {
    await Promise.all(servers.map(({ server }) => server.stop()));
    await redis.stop();
  }
}

export const fastAuthBenchmark: Benchmark = {
  id: 'fast-auth',
  title: 'auth_only with/without fast auth, sessions in Redis (connect-redis); delta bytes default vs lean preset',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([fastAuthBenchmark], process.argv.slice(2));

// Issue 7: per-event cost of the RedisStateStore (`redisUrl`) against the in-memory store, same handler.
import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { boundedBy, compared, reported, unavailable, type BenchResult, type Target } from '../harness/results.js';
import { ECHO_STATE, event } from '../harness/wire.js';
import { EXT_STATES } from '../ext/ext-states.js';
import { startExtServer, type ExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';
import { ServerProcess } from '../harness/processes.js';

const P99_TARGET: Target = { text: '≤ 2.5× in-memory', ratioAtMost: 2.5 };
const THROUGHPUT_TARGET: Target = { text: '≥ 0.7× in-memory', ratioAtLeast: 0.7 };
const CPU_TARGET: Target = { text: '≤ 1.5× in-memory', ratioAtMost: 1.5 };

async function run(context: BenchContext): Promise<BenchResult[]> {
  const redis = await RedisProcess.start();
  if ('unavailable' in redis) {
    return ['latency_p50', 'throughput'].map((figure) => unavailable(`state-store/redis/${figure}`, figure === 'throughput' ? 'events/s' : 'ms', undefined, redis.unavailable));
  }
  const servers: ExtServer[] = [];
  const floors: ServerProcess[] = [];
  try {
    const memory = await startExtServer('store memory', { kind: 'store' });
    servers.push(memory);
    const redisStore = await startExtServer('store redis', { kind: 'store', redisUrl: redis.url });
    servers.push(redisStore);
    const workload = [event(`${EXT_STATES.store}.bump`)];
    const { clients } = context.options;
    // The floor: bare Socket.IO echoing each event, without and with one fenced EVALSHA per event before it answers.
    const echo = await ServerProcess.start('echo', { kind: 'echo' });
    if ('unavailable' in echo) throw new Error(echo.unavailable);
    floors.push(echo);
    const echoRedis = await ServerProcess.start('echo + redis', { kind: 'echo', redisUrl: redis.url });
    if ('unavailable' in echoRedis) throw new Error(echoRedis.unavailable);
    floors.push(echoRedis);
    const echoWorkload = [event(`${ECHO_STATE}.bump`)];
    // Redis's CPU per event is measured in every window (and not counted as other load): one Redis serves every
    // worker of an app, so what each event costs it is what bounds how far one Redis goes.
    const sidecarPid = redis.pid;
    const plan = [
      { key: 'echo latency', server: echo, load: { url: echo.url, clients: 1, hydrate: true, workload: echoWorkload }, sidecarPid },
      { key: 'echo+redis latency', server: echoRedis, load: { url: echoRedis.url, clients: 1, hydrate: true, workload: echoWorkload }, sidecarPid },
      { key: 'memory latency', server: memory.server, load: { url: memory.server.url, clients: 1, hydrate: true, workload }, sidecarPid },
      { key: 'redis latency', server: redisStore.server, load: { url: redisStore.server.url, clients: 1, hydrate: true, workload }, sidecarPid },
      { key: 'memory throughput', server: memory.server, load: { url: memory.server.url, clients, hydrate: true, workload }, sidecarPid },
      { key: 'redis throughput', server: redisStore.server, load: { url: redisStore.server.url, clients, hydrate: true, workload }, sidecarPid },
      { key: 'echo throughput', server: echo, load: { url: echo.url, clients, hydrate: true, workload: echoWorkload }, sidecarPid },
      { key: 'echo+redis throughput', server: echoRedis, load: { url: echoRedis.url, clients, hydrate: true, workload: echoWorkload }, sidecarPid },
    ];
    // Every run once unmeasured first. Each window brings new clients, and the Redis store's paths for a token's
    // first events (taking its lock, hydrating) kept compiling for windows: in a perf profile of its first window
    // under 50 clients, V8's optimizing compiler took 3.3 µs per event (5% of the server's CPU; the in-memory
    // store's, 0.02), and a --trace-opt run counted 222, 58, 14 and 5 functions optimized in four windows in a row.
    const measured = await measurePlan(context, plan.map((run) => ({ ...run, warmUp: true })));
    const get = (key: string) => measured.get(key)!;
    const memoryCpu = get('memory latency').serverCpuPerEventUs;
    const echoCpu = get('echo latency').serverCpuPerEventUs;
    const echoRedisCpu = get('echo+redis latency').serverCpuPerEventUs;
    const floorRows = {
      cpu: compared('state-store/redis/server_cpu_floor', memoryCpu + (echoRedisCpu - echoCpu), memoryCpu, 'us/event', undefined,
        "the floor of the server CPU target: the in-memory store's event plus what one bare fenced EVALSHA adds to the echo, against the in-memory store"),
      p99: compared('state-store/echo+redis/latency_p99', get('echo+redis latency').latency.p99, get('echo latency').latency.p99, 'ms', undefined,
        'the floor of the p99 target: the same echo with one fenced EVALSHA per event, against the bare echo, one client'),
      throughput: compared('state-store/echo+redis/throughput', get('echo+redis throughput').throughput, get('echo throughput').throughput, 'events/s', undefined,
        `the floor of the throughput target: the same echo with one fenced EVALSHA per event, against the bare echo, ${clients} clients`),
    };
    return [
      reported('state-store/memory/latency_p50', get('memory latency').latency.p50, 'ms', undefined, 'baseline: InMemoryStateStore, one client'),
      reported('state-store/memory/throughput', get('memory throughput').throughput, 'events/s', undefined, `baseline: InMemoryStateStore, ${clients} clients`),
      compared('state-store/redis/latency_p50', get('redis latency').latency.p50, get('memory latency').latency.p50, 'ms', undefined, 'RedisStateStore (redisUrl), local redis-server'),
      boundedBy(compared('state-store/redis/latency_p99', get('redis latency').latency.p99, get('memory latency').latency.p99, 'ms', P99_TARGET), P99_TARGET, floorRows.p99),
      boundedBy(
        compared('state-store/redis/throughput', get('redis throughput').throughput, get('memory throughput').throughput, 'events/s', THROUGHPUT_TARGET),
        THROUGHPUT_TARGET,
        floorRows.throughput,
      ),
      boundedBy(compared('state-store/redis/server_cpu', get('redis latency').serverCpuPerEventUs, memoryCpu, 'us/event', CPU_TARGET), CPU_TARGET, floorRows.cpu),
      floorRows.cpu,
      reported('state-store/echo/server_cpu', echoCpu, 'us/event', undefined, 'floor baseline: bare Socket.IO echo, one client'),
      compared('state-store/echo+redis/server_cpu', echoRedisCpu, echoCpu, 'us/event', undefined,
        'the floor of a Redis-backed event: the same echo with one fenced EVALSHA (node-redis) per event before it answers'),
      floorRows.p99,
      floorRows.throughput,
      compared(
        'state-store/redis/round_trip_cost',
        get('redis latency').serverCpuPerEventUs - memoryCpu,
        echoRedisCpu - echoCpu,
        'us/event',
        undefined,
        'what the Redis store adds per event over the in-memory one, against what one bare round trip adds to the echo',
      ),
      compared(
        'state-store/redis/redis_cpu',
        get('redis throughput').sidecarCpuPerEventUs,
        get('echo+redis throughput').sidecarCpuPerEventUs,
        'us/event',
        undefined,
        `redis-server's CPU per event under ${clients} clients, against the same Redis answering one fenced EVALSHA per event of the echo: what one Redis pays per event`,
      ),
      otherLoadFigure('state-store/machine_other_load', measured.values()),
    ];
  } finally {
    await Promise.all([...servers.map(({ server }) => server.stop()), ...floors.map((server) => server.stop())]);
    await redis.stop();
  }
}

export const stateStoreBenchmark: Benchmark = {
  id: 'state-store',
  title: 'RedisStateStore vs in-memory store, same handler (latency: 1 client; throughput: --clients)',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([stateStoreBenchmark], process.argv.slice(2));

// Live update delivery (change committed → frame received at each client) for 1, 1,000 and 10,000 subscribers,
// in one process and over Redis, each against its baseline measured in the same run: a bare socket.io server
// broadcasting a frame of the same JSON size to the same number of sockets (over Redis through the socket.io
// Redis adapter), timed the same way by the same subscriber processes.
import { isMain, profilePath, runBenchmarks, sleep, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { compared, unavailable, type BenchResult, type Target } from '../harness/results.js';
import { RpcChild } from '../harness/rpc.js';
import { serverNodeFlags } from '../harness/server-node-flags.js';
import { median, summarize } from '../harness/stats.js';
import { startExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';

const SUBSCRIBER_MAIN = new URL('../ext/live-subscriber.js', import.meta.url);
const BROADCAST_MAIN = new URL('../ext/broadcast-server-main.js', import.meta.url);
/** Subscriber counts measured unless `--subscribers` picks others. */
const COUNTS = [1, 1000, 10_000];
/** `--profile`: the bridge server's CPU profile of each measured series of changes. */
/** Counts the p99 target applies to (the 1,000 and 10,000 subscribers). */
const TARGETED = new Set([1000, 10_000]);
const PUBLISHES = 40;
/**
 * Changes published before each series is timed, on the series' own subscribers (bridge and baseline alike). One
 * was not enough: on a server that had only fanned out to one subscriber, the first few changes to 1,000 took 2-3×
 * the later ones (102, 74, 66, 47, 42 ms, then about 30), and since a series' p99 is set by its slowest change or two,
 * that warm-up alone decided the first series. Five bring the first series in line with the later ones.
 */
const WARMUP_PUBLISHES = 5;
/**
 * Series of PUBLISHES changes per side below 10,000 subscribers, bridge and baseline alternating, each on fresh
 * subscribers; the figures are the medians. A series' p99 is set by its slowest change or two (each is 2.5% of the
 * samples), so one garbage collection or burst of other load decides a single series. At 10,000 subscribers two
 * series (the set-up of each takes most of a minute; one alone read 1.08× and 1.51× in two runs of one build).
 */
function seriesFor(clients: number, quick: boolean): number {
  if (quick) return 1;
  return clients >= 10_000 ? 2 : 3;
}
/** Sockets per subscriber process: 10,000 sockets in one event loop would time the client, not the server. */
const SOCKETS_PER_PROCESS = 2500;
const P99_TARGET: Target = { text: 'p99 ≤ 1.5× bare socket.io broadcast', ratioAtMost: 1.5 };

/** Something that publishes changes to subscribers: the bridge (ext server) or the bare socket.io baseline. */
interface Publisher {
  label: string;
  url: string;
  child: RpcChild;
  /** How many subscriptions the server has set up. */
  subscribed(): Promise<number>;
  /** Before a measurement: start from the list a new subscriber has (the bridge's clients start empty anyway). */
  clear(): Promise<void>;
  /** The bridge's server records CPU profiles (`--profile`); the baseline's does not. */
  profiles: boolean;
}

interface Delivery {
  p50: number;
  p99: number;
  frameBytes: number;
}

async function startBridge(label: string, redisUrl?: string): Promise<Publisher> {
  const { server, child } = await startExtServer(label, { kind: 'live', ...(redisUrl ? { redisUrl } : {}) });
  return { label, url: server.url, child, subscribed: () => child.call<number>('subscribers'), clear: async () => undefined, profiles: true };
}

async function startBaseline(label: string, redisUrl?: string): Promise<Publisher> {
  const child = RpcChild.fork(`server ${label}`, BROADCAST_MAIN, serverNodeFlags());
  try {
    const { url } = await child.call<{ url: string }>('start', redisUrl ? { redisUrl } : {}, 60_000);
    return { label, url, child, subscribed: () => child.call<number>('subscribers'), clear: () => child.call('clear'), profiles: false };
  } catch (error) {
    await child.shutdown();
    throw error;
  }
}

async function until(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function received(processes: RpcChild[]): Promise<number> {
  const counts = await Promise.all(processes.map((child) => child.call<number>('count')));
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * Subscribes `clients` sockets (in several processes past SOCKETS_PER_PROCESS), then publishes PUBLISHES
 * changes one at a time, each once every subscriber has the previous one (delivery, not a backlog, is timed).
 */
async function measureDelivery(context: BenchContext, publisher: Publisher, clients: number): Promise<Delivery> {
  const shares: number[] = [];
  for (let left = clients; left > 0; left -= SOCKETS_PER_PROCESS) shares.push(Math.min(SOCKETS_PER_PROCESS, left));
  const processes = shares.map((share, index) => RpcChild.fork(`live subscribers ${index + 1}/${shares.length} ×${share}`, SUBSCRIBER_MAIN));
  try {
    // One process at a time: hydrating thousands of sockets at once would only queue on the server.
    for (const [index, child] of processes.entries()) await child.call('setup', { url: publisher.url, clients: shares[index] }, 300_000);
    await until(`${clients} subscriptions on ${publisher.label}`, 120_000, async () => (await publisher.subscribed()) >= clients);
    await publisher.clear();
    for (let i = 1; i <= WARMUP_PUBLISHES; i++) {
      await publisher.child.call('publish'); // warm-up changes, not measured
      await until(`warm-up change ${i}`, 60_000, async () => (await received(processes)) >= clients * i);
    }
    await Promise.all(processes.map((child) => child.call('reset')));
    const profiling = context.options.profile && publisher.profiles;
    if (profiling) await publisher.child.call('profileStart');
    for (let i = 1; i <= PUBLISHES; i++) {
      await publisher.child.call('publish');
      await until(`change ${i} at ${clients} subscribers`, 60_000, async () => (await received(processes)) >= clients * i);
    }
    if (profiling) {
      const path = await publisher.child.call<string>('profileStop', profilePath(`live-latency_${publisher.label}_${clients}`, 'cpuprofile'), 60_000);
      context.log(`    CPU profile: ${path}`);
    }
    const all = await Promise.all(processes.map((child) => child.call<number[]>('latencies', undefined, 60_000)));
    const summary = summarize(Float64Array.from(all.flat()));
    return { p50: summary.p50, p99: summary.p99, frameBytes: await processes[0].call<number>('frameBytes') };
  } finally {
    await Promise.all(processes.map((child) => child.call('close').catch(() => undefined)));
    await Promise.all(processes.map((child) => child.shutdown()));
  }
}

/**
 * Bridge and baseline at each count, in alternating series (baseline first, then bridge first, ...); both servers
 * stay up for all counts.
 */
async function measurePair(context: BenchContext, where: 'in_process' | 'redis', bridge: Publisher, baseline: Publisher): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const how = where === 'redis' ? 'over Redis (bridge: Redis transport; baseline: socket.io Redis adapter)' : 'in one process';
  const quick = context.options.rounds <= 1;
  for (const clients of context.options.subscribers ?? COUNTS) {
    const series = seriesFor(clients, quick);
    const bases: Delivery[] = [];
    const measured: Delivery[] = [];
    for (let round = 1; round <= series; round++) {
      const order = round % 2 ? (['baseline', 'bridge'] as const) : (['bridge', 'baseline'] as const);
      for (const side of order) {
        context.log(`live-latency: ${clients} subscriber(s) ${how}: ${side} (series ${round}/${series})`);
        if (side === 'baseline') bases.push(await measureDelivery(context, baseline, clients));
        else measured.push(await measureDelivery(context, bridge, clients));
      }
    }
    const name = `live-latency/${where}/${clients}`;
    const p99 = median(measured.map((delivery) => delivery.p99));
    const baseP99 = median(bases.map((delivery) => delivery.p99));
    const p50 = median(measured.map((delivery) => delivery.p50));
    const baseP50 = median(bases.map((delivery) => delivery.p50));
    const frameBytes = measured.at(-1)!.frameBytes;
    const baseFrameBytes = bases.at(-1)!.frameBytes;
    const perSeries = (deliveries: Delivery[]) => deliveries.map((delivery) => delivery.p99.toFixed(1)).join(' / ');
    // Printed at once: a long run that is cut short still tells what it measured.
    context.log(`  ${name}: p99 ${p99.toFixed(1)} ms vs baseline ${baseP99.toFixed(1)} ms; p50 ${p50.toFixed(1)} vs ${baseP50.toFixed(1)} ms; frame ${frameBytes} vs ${baseFrameBytes} bytes`);
    const seriesNote = series > 1 ? `median of ${series} series of ${PUBLISHES} changes (p99 per series: bridge ${perSeries(measured)}, baseline ${perSeries(bases)} ms)` : `${PUBLISHES} changes`;
    results.push(
      compared(`${name}/p99`, p99, baseP99, 'ms', TARGETED.has(clients) ? P99_TARGET : undefined, `change committed → frame at each of ${clients} client(s), ${seriesNote}; baseline: bare socket.io broadcast ${how}`),
      compared(`${name}/p50`, p50, baseP50, 'ms'),
      compared(`${name}/frame_bytes`, frameBytes, baseFrameBytes, 'bytes', undefined, 'JSON size of the last frame, bridge vs baseline (the same by construction)'),
    );
  }
  return results;
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const redis = await RedisProcess.start();
  const publishers: Publisher[] = [];
  const started = async (publisher: Promise<Publisher>) => {
    const running = await publisher;
    publishers.push(running);
    return running;
  };
  try {
    // One pair of servers at a time, so the idle pair's sockets do not share the cores with the measured one.
    const where = context.options.liveWhere;
    if (where !== 'redis') {
      const inBridge = await started(startBridge('live in-process'));
      const inBase = await started(startBaseline('socket.io in-process'));
      results.push(...(await measurePair(context, 'in_process', inBridge, inBase)));
      await Promise.all(publishers.splice(0).map((publisher) => publisher.child.shutdown()));
    }
    if (where === 'in_process') return results;
    if ('unavailable' in redis) {
      for (const clients of context.options.subscribers ?? COUNTS) results.push(unavailable(`live-latency/redis/${clients}/p99`, 'ms', TARGETED.has(clients) ? P99_TARGET : undefined, redis.unavailable));
      return results;
    }
    const redisBridge = await started(startBridge('live redis', redis.url));
    const redisBase = await started(startBaseline('socket.io redis adapter', redis.url));
    results.push(...(await measurePair(context, 'redis', redisBridge, redisBase)));
    return results;
  } finally {
    await Promise.all(publishers.map((publisher) => publisher.child.shutdown()));
    if (!('unavailable' in redis)) await redis.stop();
  }
}

export const liveLatencyBenchmark: Benchmark = {
  id: 'live-latency',
  title: 'live update fan-out: change committed → frame at each client, against a bare socket.io broadcast',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([liveLatencyBenchmark], process.argv.slice(2));

// Two builds of the library side by side on the `state-store` benchmark's Redis-store server: one server per build on
// one redis-server, measured in alternated windows (A B, B A, A B, ...), so that a machine whose speed drifts during
// the run favours neither. For changes of a few microseconds per event, which one `npm run bench -- state-store` per
// build cannot tell from the spread between its windows. Prints each window (server CPU per event, throughput, the
// redis-server's CPU per event), then the medians and in how many pairs the workspace's build was the cheaper one.
// Usage: node bench/dist/tools/state-store-ab.js --lib=DIR [--pairs=6] [--clients=50] [--window=5000] [--memory]
//   --lib      the other build (e.g. .tmp/before/libs/reflex-bridge/dist, see docs/performance.md)
//   --memory   the in-memory store's server instead of the Redis store's
import { resolve } from 'node:path';
import { measure, parseOptions, type BenchContext, type Measurement } from '../harness/benchmark.js';
import { EXT_STATES } from '../ext/ext-states.js';
import { startExtServer, type ExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';
import { event } from '../harness/wire.js';

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const lib = flag('lib');
const pairs = Number(flag('pairs') ?? 6);
const clients = Number(flag('clients') ?? 50);
const windowMs = Number(flag('window') ?? 5_000);
const memory = process.argv.includes('--memory');

type Side = 'workspace' | 'other';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Starts the server of one build: the workspace's, or the `--lib` one (the server imports it instead). */
async function startSide(side: Side, redisUrl: string): Promise<ExtServer> {
  if (side === 'other') process.env.BENCH_REFLEX_LIB = resolve(lib!);
  else delete process.env.BENCH_REFLEX_LIB;
  return startExtServer(side, memory ? { kind: 'store' } : { kind: 'store', redisUrl });
}

async function main(): Promise<void> {
  if (!lib) throw new Error('--lib=DIR is required: the build to compare the workspace with');
  const redis = await RedisProcess.start();
  if ('unavailable' in redis) {
    console.log(`state-store-ab: ${redis.unavailable}`);
    return;
  }
  // Every window is kept as measured: the alternation, not a retry, is what evens out the machine's load.
  const { options } = parseOptions([]);
  Object.assign(options, { warmupMs: 2_000, durationMs: windowMs, maxOtherLoad: 1, retries: 0 });
  const context: BenchContext = { options, log: () => undefined };
  const servers = new Map<Side, ExtServer>();
  try {
    for (const side of ['workspace', 'other'] as const) servers.set(side, await startSide(side, redis.url));
    const figures = new Map<Side, Measurement[]>([
      ['workspace', []],
      ['other', []],
    ]);
    console.log(`state-store-ab: ${memory ? 'in-memory' : 'Redis'} store, ${clients} clients, ${pairs} pairs of ${windowMs} ms windows; other = ${lib}`);
    for (let pair = 0; pair < pairs; pair++) {
      const order: Side[] = pair % 2 === 0 ? ['other', 'workspace'] : ['workspace', 'other'];
      for (const side of order) {
        const { server } = servers.get(side)!;
        const load = { url: server.url, clients, hydrate: true, workload: [event(`${EXT_STATES.store}.bump`)] };
        const measured = await measure(context, server, side, load, windowMs, redis.pid);
        figures.get(side)!.push(measured);
        const redisCpu = Number.isFinite(measured.sidecarCpuPerEventUs) ? `${measured.sidecarCpuPerEventUs.toFixed(1)} us/event` : 'n/a';
        console.log(
          `  ${side.padEnd(9)} server CPU ${measured.serverCpuPerEventUs.toFixed(1).padStart(6)} us/event  ${Math.round(measured.throughput).toString().padStart(6)} events/s  redis-server ${redisCpu}  (other load ${(measured.otherLoad * 100).toFixed(0)}%)`,
        );
      }
    }
    const cpu = (side: Side) => figures.get(side)!.map((m) => m.serverCpuPerEventUs);
    const ours = cpu('workspace');
    const theirs = cpu('other');
    const cheaper = ours.filter((value, i) => value < theirs[i]!).length;
    console.log(`median server CPU per event: workspace ${median(ours).toFixed(1)} us, other ${median(theirs).toFixed(1)} us; workspace cheaper in ${cheaper} of ${pairs} pairs`);
  } finally {
    for (const { server } of servers.values()) await server.stop();
    await redis.stop();
  }
}

await main();

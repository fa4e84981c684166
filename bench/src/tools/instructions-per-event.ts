// Instructions per event: the user-space instructions a server executes per event, counted by valgrind's callgrind,
// for the bare Socket.IO echo and the `tiers` app's events, one client sending one event after another. Unlike server
// CPU time, the count does not move with the machine's load or the CPU's caches: the same build gives the same count
// within about 1%, so a change of a few hundred instructions on the event path shows up, where `npm run bench`'s
// time figures move by tens of microseconds between windows. It does not count the kernel (socket reads and writes)
// nor what a cold cache costs, so it says what the code does, not what an event costs in time: read the ratios
// next to `tiers/*/server_cpu`.
//
// Each server runs under callgrind with counting off; it is switched on for a window once the server is warm (the
// JIT has compiled the event path), and the load generator counts the events completed in it. Only the main thread
// is counted: the JIT compiler's and the garbage collector's helper threads work in bursts that would make the
// figure jump between runs.
//
// `store-memory` and `store-redis` are the `state-store` benchmark's servers (the same plain handler on the in-memory
// store and on the Redis store, against a redis-server started for the run), and `echo-redis` its floor: the echo
// sending one fenced EVALSHA per event before it answers. `--clients=50` counts them under load, as its throughput
// window does.
//
// `--keep=DIR` keeps the callgrind files there (one per thread; `-01` is the main thread) for callgrind_annotate,
// and has the servers write /tmp/perf-<pid>.map, where the addresses of their JIT-compiled functions are named.
//
// `--cache-sim` also has callgrind simulate the CPU's caches (sizes read from this CPU), and prints per event the
// first-level data misses (reads and writes, D1mr+D1mw), the last-level data misses (DLmr+DLmw) and the
// instruction-cache misses (I1mr). The simulation sees only this process, on one warm core: no other process evicts
// its lines between events, so it shows the event path's own footprint, not what a shared machine adds.
//
// `--ll=BYTES` (with `--cache-sim`) simulates a last-level cache of that size (8-way, 64-byte lines) instead of the one
// this CPU reports: a VM may report a last level far larger than any real one (512 MB seen here), where a miss only
// means memory touched for the first time; `--ll=1048576` counts what leaves a 1 MB second-level cache instead.
//
// Usage: node bench/dist/tools/instructions-per-event.js [--window=6000] [--warmup=30000] [--clients=1] [--lib=DIR] [--keep=DIR] [--cache-sim [--ll=BYTES]]
//   [echo|floor|guarded|echo-in-nest|guarded-in-nest|echo-in-empty-nest|chain|chain-in-nest|none|auth_only|fast|full|store-memory|store-redis|echo-redis ...]   (default: echo none fast full)
// Needs valgrind (Debian's `valgrind` package: callgrind and callgrind_control).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EXT_STATES } from '../ext/ext-states.js';
import { startExtServer } from '../ext/ext-server.js';
import { RedisProcess } from '../ext/redis-process.js';
import { LoadProcess, ServerProcess } from '../harness/processes.js';
import type { ProcessWrapper } from '../harness/rpc.js';
import { event } from '../harness/wire.js';
import { ONE_CLIENT_SCENARIOS, type ScenarioLoad } from '../harness/one-client-scenarios.js';

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const windowMs = Number(flag('window') ?? 6_000);
const warmupMs = Number(flag('warmup') ?? 30_000);
const clients = Number(flag('clients') ?? 1);
const keep = flag('keep');
const cacheSim = process.argv.includes('--cache-sim');
const lastLevelBytes = flag('ll');
const lib = flag('lib');
if (lib) process.env.BENCH_REFLEX_LIB = resolve(lib);
const ids = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

type Load = ScenarioLoad;
const SCENARIOS = ONE_CLIENT_SCENARIOS;

const STORE_LOAD: Load = { workload: [event(`${EXT_STATES.store}.bump`)] };

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function callgrindControl(...args: string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore' });
}

/** Callgrind's counts of one thread for the counted window, by event name (`Ir`, and with `--cache-sim` `D1mr`, ...). */
type Counts = Record<string, number>;

/**
 * What the main thread counted in the window: the `totals:`/`summary:` line with the most instructions among its dump
 * files (`<pid>.out[.<part>]-01`: callgrind writes one file per thread), named by the file's `events:` line.
 */
function countedOnMainThread(dir: string, pid: number): Counts {
  let best: Counts = { Ir: 0 };
  const mainThread = new RegExp(`^${pid}\\.out(\\.\\d+)?-01$`);
  for (const file of readdirSync(dir).filter((name) => mainThread.test(name))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const names = /^events: (.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? ['Ir'];
    for (const match of text.matchAll(/^(?:totals|summary): ([\d ]+)$/gm)) {
      const values = match[1].trim().split(/\s+/).map(Number);
      const counts = Object.fromEntries(names.map((name, i) => [name, values[i] ?? 0]));
      if (counts.Ir > best.Ir) best = counts;
    }
  }
  return best;
}

/** A redis-server for the `store-redis` and `echo-redis` scenarios, started on first use. */
let redis: RedisProcess | undefined;

async function redisUrl(): Promise<string> {
  if (!redis) {
    const started = await RedisProcess.start();
    if ('unavailable' in started) throw new Error(`redis-server: ${started.unavailable}`);
    redis = started;
  }
  return redis.url;
}

/** Starts the server of scenario `id` under `wrapper`, with the load its clients send. */
async function startScenario(id: string, wrapper: ProcessWrapper): Promise<{ server: ServerProcess; load: Load }> {
  if (id === 'store-memory') return { server: (await startExtServer(id, { kind: 'store' }, wrapper)).server, load: STORE_LOAD };
  if (id === 'store-redis') return { server: (await startExtServer(id, { kind: 'store', redisUrl: await redisUrl() }, wrapper)).server, load: STORE_LOAD };
  if (id === 'echo-redis') {
    const server = await ServerProcess.start(id, { kind: 'echo', redisUrl: await redisUrl() }, wrapper);
    if (!(server instanceof ServerProcess)) throw new Error(`${id}: ${server.unavailable}`);
    return { server, load: SCENARIOS.echo.load };
  }
  const scenario = SCENARIOS[id];
  if (!scenario) throw new Error(`Unknown scenario "${id}" (known: ${[...Object.keys(SCENARIOS), 'store-memory', 'store-redis', 'echo-redis'].join(', ')})`);
  const server = await ServerProcess.start(id, scenario.server, wrapper);
  if (!(server instanceof ServerProcess)) throw new Error(`${id}: ${server.unavailable}`);
  return { server, load: scenario.load };
}

/** Per event in the counted window; the misses are 0 without `--cache-sim`. */
interface Measured {
  events: number;
  perEvent: number;
  d1Misses: number;
  llMisses: number;
  i1Misses: number;
  pid: number;
}

/** Instructions per event of one scenario: its server under callgrind, counting during one window. */
async function measure(id: string, dir: string): Promise<Measured> {
  const wrapper: ProcessWrapper = {
    command: 'valgrind',
    args: ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', ...(cacheSim ? ['--cache-sim=yes'] : []), ...(cacheSim && lastLevelBytes ? [`--LL=${lastLevelBytes},8,64`] : []), `--callgrind-out-file=${dir}/%p.out`, '-q'],
    // Kept files are for callgrind_annotate: the server writes /tmp/perf-<pid>.map, which names its JIT code (and
    // no V8 log file into the working directory).
    nodeArgs: keep ? ['--perf-basic-prof', '--logfile=/dev/null'] : [],
  };
  const { server, load: workload } = await startScenario(id, wrapper);
  const pid = String(server.pid);
  const load = await LoadProcess.setup(id, { ...workload, url: server.url, clients, hydrate: true });
  try {
    await load.start();
    await sleep(warmupMs);
    callgrindControl('--zero', pid);
    callgrindControl('--instr=on', pid);
    await load.mark();
    await sleep(windowMs);
    const stats = await load.stop();
    callgrindControl('--instr=off', pid);
    callgrindControl('--dump', pid);
    if (stats.errors > 0) throw new Error(`${id}: ${stats.errors} events failed; first: ${stats.firstError}`);
    const counts = countedOnMainThread(dir, Number(pid));
    const perEvent = (...names: string[]) => names.reduce((sum, name) => sum + (counts[name] ?? 0), 0) / stats.completed;
    return { events: stats.completed, perEvent: perEvent('Ir'), d1Misses: perEvent('D1mr', 'D1mw'), llMisses: perEvent('DLmr', 'DLmw'), i1Misses: perEvent('I1mr'), pid: Number(pid) };
  } finally {
    await load.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  }
  const dir = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'bench-callgrind-'));
  mkdirSync(dir, { recursive: true });
  try {
    const figures = new Map<string, Measured>();
    for (const id of ids.length > 0 ? ids : ['echo', 'none', 'fast', 'full']) {
      figures.set(id, await measure(id, dir));
      const { events, perEvent, d1Misses, llMisses, i1Misses, pid } = figures.get(id)!;
      // Each figure against its baseline, when it was measured first: echo for the tiers, the in-memory store for Redis.
      const baselineId = id === 'store-redis' ? 'store-memory' : id === 'store-memory' || id === 'echo' ? undefined : 'echo';
      const baseline = baselineId ? figures.get(baselineId) : undefined;
      const ratio = baseline ? `  ${(perEvent / baseline.perEvent).toFixed(3)}× ${baselineId}` : '';
      const kept = keep ? `  [${dir}/${pid}.out*, /tmp/perf-${pid}.map]` : '';
      const misses = cacheSim ? `  D1 misses ${Math.round(d1Misses)}, LL data misses ${Math.round(llMisses)}, I1 misses ${Math.round(i1Misses)} per event` : '';
      console.log(`${id.padEnd(12)} ${Math.round(perEvent).toLocaleString('en-US').padStart(9)} instructions/event  (${events} events)${ratio}${misses}${kept}`);
    }
  } finally {
    await redis?.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);

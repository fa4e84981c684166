import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LoadProcess, type ServerProcess } from './processes.js';
import { processCpuUs } from '../peers/proc-cpu.js';
import { median } from './stats.js';
import { formatTable, reported, writeResults, type BenchResult } from './results.js';
import { writeResultsChart } from './results-chart.js';
import { parseServerNodeArgs, setServerNodeArgs } from './server-node-flags.js';
import type { LoadConfig, LoadStats } from './types.js';

/** Knobs every benchmark reads; set from the command line (see {@link USAGE}). */
export interface BenchOptions {
  warmupMs: number;
  durationMs: number;
  /** Clients of the throughput runs (tiers, modes). */
  clients: number;
  /** Idle connections of the memory benchmark. */
  connections: number;
  /** Idle connections of the idle benchmark (one server, several load processes). */
  idleConnections: number;
  /** Idle benchmark: write a heap snapshot of each server with its idle connections open (`.tmp/bench-heap/`). */
  heapSnapshot: boolean;
  /** List sizes of the growth benchmark; the first is its baseline. */
  sizes: number[];
  /** Clients of the growth benchmark's throughput runs (each holds its own list). */
  growthClients: number;
  /** Measure each figure this many times (interleaving scenarios) and keep the median. */
  rounds: number;
  /** Rounds of the one-client windows whose server CPU per event carries a target (`tiers`, `growth`; see `--cpu-rounds`). */
  cpuRounds: number;
  /** Record a CPU profile of each measured server window into `.tmp/bench-profiles/`. */
  profile: boolean;
  /** Sample the allocations of each measured server window into `.tmp/bench-profiles/` and log the bytes per event. */
  allocations: boolean;
  /** Another build of the library for the bench apps (a `dist` folder), instead of libs/reflex-bridge/dist. */
  lib?: string;
  /** Node flags for every server process of the run (`--server-node-args`), ours and the baselines' alike. */
  serverNodeArgs?: string[];
  /** Share of the machine (0..1) other processes may take during a window before it is measured again. */
  maxOtherLoad: number;
  /** How many disturbed windows the whole run may measure again (each at most once). */
  retries: number;
  /** Size of each file of the upload benchmark's throughput runs, MiB. */
  uploadMb: number;
  /** Size of the one file the upload benchmark streams through while it samples the server's RSS, MiB. */
  uploadRssMb: number;
  /**
   * Our side of the upload benchmark: `auto` measures it when the library serves uploads (else the baseline
   * alone, saying why), `on` fails the benchmark when it cannot, `off` measures the baseline only.
   */
  uploadBridge: 'auto' | 'on' | 'off';
  /** Subscriber counts of the live-latency benchmark (default 1, 1,000 and 10,000). */
  subscribers?: number[];
  /** Which live-latency pairs run: in one process, over Redis, or both (default). */
  liveWhere: 'both' | 'in_process' | 'redis';
}

/** One benchmark of the harness. Its `run` measures its own baseline and returns every figure. */
export interface Benchmark {
  id: string;
  title: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

export interface BenchContext {
  options: BenchOptions;
  log(message: string): void;
}

/**
 * Re-measured windows so far in this run (see {@link measure}). Kept here, not on the context, so that a
 * benchmark passing a copy of its context (`{...context, options: {...}}`) still draws on the run's budget.
 */
let retriesUsed = 0;

export const USAGE = `usage: npm run bench -- [benchmark ...] [flags]     (or: node bench/dist/run.js ...)
benchmarks: tiers modes memory idle growth fast-auth live-latency state-store flood upload (default: all, in that order)
flags:
  --duration=S        measured window of each run, seconds           (default 4)
  --warmup=S          warm-up before each window, seconds            (default 1)
  --clients=N         concurrent clients of throughput runs          (default 50)
  --connections=N     idle connections of the memory benchmark       (default 1000)
  --idle-connections=N idle connections of the idle benchmark        (default 10000)
  --heap-snapshot     idle: write a heap snapshot of each server with its idle connections open
                      into .tmp/bench-heap/
  --sizes=A,B,...     list sizes of the growth benchmark             (default 10,100,1000,10000)
  --growth-clients=N  clients of the growth throughput runs          (default 10)
  --rounds=N          repeat each measurement, interleaved, and keep
                      the median (the mean of two)                   (default 2)
  --cpu-rounds=N      rounds of tiers' and growth's one-client windows (server CPU per event,
                      their targets): one window moves by ±20% on a shared VM (default 6)
  --max-other-load=P  measure a window again when other processes took more than P% of
                      the machine during it                          (default 15)
  --retries=N         at most N such windows per run, each once      (default 8)
  --profile           CPU-profile each measured server window into .tmp/bench-profiles/
  --allocations       sample the allocations of each measured server window (freed objects
                      included) into .tmp/bench-profiles/ and log the bytes per event; the
                      sampling costs CPU, so read no CPU figure of such a run
  --lib=DIR           bench apps import the library from DIR (a built dist folder, inside the
                      repository so its dependencies resolve) instead of libs/reflex-bridge/dist
  --server-node-args="F ..."
                      Node flags for every server process: ours, the baselines' and the Node
                      peers' alike (V8's heap flags, say, which Node refuses in NODE_OPTIONS)
  --upload-mb=N       file size of the upload throughput runs, MiB   (default 16)
  --upload-rss-mb=N   file streamed through during the upload RSS run, MiB (default 1024)
  --upload-bridge=M   upload: our endpoint auto|on|off (auto: measured when the library
                      serves uploads, else the baseline alone)       (default auto)
  --subscribers=A,B   subscriber counts of live-latency                (default 1,1000,10000)
  --live-where=W      live-latency pairs: both|in_process|redis      (default both)
  --quick             a smoke run: --duration=1.5 --warmup=0.5 --rounds=1 --cpu-rounds=1 --retries=0
                      --connections=200 --idle-connections=1000 --sizes=10,10000
                      --upload-rss-mb=256
  --help`;

export function parseOptions(argv: string[]): { options: BenchOptions; selected: string[] } {
  const options: BenchOptions = {
    warmupMs: 1000,
    durationMs: 4000,
    clients: 50,
    connections: 1000,
    idleConnections: 10_000,
    heapSnapshot: false,
    sizes: [10, 100, 1000, 10_000],
    growthClients: 10,
    rounds: 2,
    cpuRounds: 6,
    profile: false,
    allocations: false,
    maxOtherLoad: 0.15,
    retries: 8,
    uploadMb: 16,
    uploadRssMb: 1024,
    uploadBridge: 'auto',
    liveWhere: 'both',
  };
  const selected: string[] = [];
  const flags = new Map<string, string>();
  for (const arg of argv) {
    if (!arg.startsWith('--')) {
      selected.push(arg);
      continue;
    }
    // The value is everything after the first `=` (--server-node-args' flags have their own).
    const equals = arg.indexOf('=');
    flags.set(equals < 0 ? arg.slice(2) : arg.slice(2, equals), equals < 0 ? 'true' : arg.slice(equals + 1));
  }
  if (flags.has('help')) {
    console.log(USAGE);
    process.exit(0);
  }
  if (flags.has('quick')) {
    Object.assign(options, { warmupMs: 500, durationMs: 1500, rounds: 1, cpuRounds: 1, retries: 0, connections: 200, idleConnections: 1000, sizes: [10, 10_000], uploadRssMb: 256 });
  }
  const number = (name: string, scale = 1): number | undefined => {
    const raw = flags.get(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number, got "${raw}"\n${USAGE}`);
    return value * scale;
  };
  options.durationMs = number('duration', 1000) ?? options.durationMs;
  options.warmupMs = number('warmup', 1000) ?? options.warmupMs;
  options.clients = Math.round(number('clients') ?? options.clients);
  options.connections = Math.round(number('connections') ?? options.connections);
  options.idleConnections = Math.round(number('idle-connections') ?? options.idleConnections);
  options.heapSnapshot = flags.has('heap-snapshot');
  options.growthClients = Math.round(number('growth-clients') ?? options.growthClients);
  options.rounds = Math.round(number('rounds') ?? options.rounds);
  options.cpuRounds = Math.round(number('cpu-rounds') ?? options.cpuRounds);
  options.maxOtherLoad = number('max-other-load', 0.01) ?? options.maxOtherLoad;
  if (flags.has('retries')) {
    options.retries = Number(flags.get('retries'));
    if (!Number.isInteger(options.retries) || options.retries < 0) throw new Error(`--retries: expected an integer ≥ 0, got "${flags.get('retries')}"`);
  }
  options.uploadMb = number('upload-mb') ?? options.uploadMb;
  options.uploadRssMb = number('upload-rss-mb') ?? options.uploadRssMb;
  if (flags.has('upload-bridge')) {
    const mode = flags.get('upload-bridge');
    if (mode !== 'auto' && mode !== 'on' && mode !== 'off') throw new Error(`--upload-bridge: expected auto, on or off, got "${mode}"`);
    options.uploadBridge = mode;
  }
  options.profile = flags.has('profile');
  options.allocations = flags.has('allocations');
  if (flags.has('lib')) {
    options.lib = resolve(flags.get('lib')!);
    if (!existsSync(join(options.lib, 'index.js'))) throw new Error(`--lib: no index.js in ${options.lib}`);
  }
  if (flags.has('server-node-args')) options.serverNodeArgs = parseServerNodeArgs(flags.get('server-node-args')!);
  if (flags.has('sizes')) {
    options.sizes = flags.get('sizes')!.split(',').map((size) => Number(size));
    if (options.sizes.some((size) => !Number.isInteger(size) || size < 0)) throw new Error(`--sizes: expected integers, got "${flags.get('sizes')}"`);
  }
  if (flags.has('subscribers')) {
    options.subscribers = flags.get('subscribers')!.split(',').map((count) => Number(count));
    if (options.subscribers.some((count) => !Number.isInteger(count) || count <= 0)) throw new Error(`--subscribers: expected positive integers, got "${flags.get('subscribers')}"`);
  }
  if (flags.has('live-where')) {
    const where = flags.get('live-where');
    if (where !== 'both' && where !== 'in_process' && where !== 'redis') throw new Error(`--live-where: expected both, in_process or redis, got "${where}"`);
    options.liveWhere = where;
  }
  const known = new Set([
    'duration', 'warmup', 'clients', 'connections', 'growth-clients', 'rounds', 'cpu-rounds', 'profile', 'allocations', 'lib', 'sizes', 'quick', 'help', 'max-other-load', 'retries',
    'upload-mb', 'upload-rss-mb', 'upload-bridge', 'idle-connections', 'heap-snapshot', 'subscribers', 'live-where', 'server-node-args',
  ]);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown flag --${name}\n${USAGE}`);
  return { options, selected };
}

/** A load run's figures plus the server's CPU time over the same window. */
export interface Measurement extends LoadStats {
  /** Server CPU time per completed event, microseconds. */
  serverCpuPerEventUs: number;
  /** Times the server's main thread was woken up per completed event (see `mainThreadWakeups`). */
  serverWakeupsPerEvent: number;
  /** The server's garbage-collection pauses per completed event, microseconds (its main thread, stopped). */
  serverGcPausePerEventUs: number;
  /** Server CPU time / wall time over the window (1 = one core saturated). */
  serverBusy: number;
  /** Load generator CPU time / wall time over the window. */
  loadBusy: number;
  /**
   * Share of the whole machine's CPU that other processes (not this benchmark's server and load generator)
   * used during the window, 0..1; NaN where /proc/stat is unavailable. Above ~0.1 the figures are noisy.
   */
  otherLoad: number;
  /** Session middleware runs per completed event (1 on auth_only/full, ~0 with fast auth, 0 on none). */
  sessionRunsPerEvent: number;
  /**
   * CPU time per completed event of the run's sidecar (the redis-server it uses, see {@link PlannedRun.sidecarPid}),
   * microseconds; NaN without one. Its CPU is part of the run, not counted in `otherLoad`.
   */
  sidecarCpuPerEventUs: number;
}

/** Busy and total CPU time of the whole machine so far (Linux /proc/stat), in clock ticks. */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/** What other processes used of the machine between two {@link machineTicks} readings. */
export function otherLoadBetween(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>, oursUs: number, wallMs: number): number {
  if (!before || !after || after.total === before.total) return Number.NaN;
  const machineBusyShare = (after.busy - before.busy) / (after.total - before.total);
  const oursShare = oursUs / 1000 / (wallMs * availableParallelism());
  return Math.max(0, machineBusyShare - oursShare);
}

const PROFILE_DIR = fileURLToPath(new URL('../../../.tmp/bench-profiles/', import.meta.url));

/** Where `--profile` and `--allocations` write the profile of the window `label`: `.tmp/bench-profiles/<label>.<extension>`. */
export function profilePath(label: string, extension: 'cpuprofile' | 'heapprofile'): string {
  return `${PROFILE_DIR}${label.replace(/[^\w.-]+/g, '_')}.${extension}`;
}

/**
 * One measured run: a fresh load generator process sets up `load` against `server`, warms up, then the
 * window opens on both sides (client counters, server CPU time) for `durationMs`. Fails when any event
 * failed: a run with errors measures something else. A window in which other processes took more than
 * `--max-other-load` of the machine is measured once more, while the run's budget of `--retries` lasts (a
 * machine that stays busy would otherwise only make the run longer); the figure `<benchmark>/machine_other_load`
 * reports what the kept windows saw.
 */
export async function measure(
  context: BenchContext,
  server: ServerProcess,
  label: string,
  load: LoadConfig,
  durationMs = context.options.durationMs,
  sidecarPid?: number,
): Promise<Measurement> {
  const first = await measureOnce(context, server, label, load, durationMs, sidecarPid);
  if (!(first.otherLoad > context.options.maxOtherLoad) || retriesUsed >= context.options.retries) return first;
  retriesUsed++;
  context.log(`    ${label}: other processes took ${(first.otherLoad * 100).toFixed(0)}% of the machine; measuring again (retry ${retriesUsed}/${context.options.retries} of this run)`);
  await sleep(2000);
  const second = await measureOnce(context, server, label, load, durationMs, sidecarPid);
  return second.otherLoad < first.otherLoad ? second : first;
}

async function measureOnce(context: BenchContext, server: ServerProcess, label: string, load: LoadConfig, durationMs: number, sidecarPid?: number): Promise<Measurement> {
  const generator = await LoadProcess.setup(label, load);
  try {
    await generator.start();
    await sleep(context.options.warmupMs);
    if (context.options.profile) await server.profileStart();
    if (context.options.allocations) await server.allocationStart();
    await Promise.all([server.cpuMark(), generator.mark()]);
    const ticksBefore = machineTicks();
    const sidecarBefore = sidecarPid === undefined ? Number.NaN : processCpuUs(sidecarPid);
    await sleep(durationMs);
    const ticksAfter = machineTicks();
    const sidecarUs = sidecarPid === undefined ? Number.NaN : processCpuUs(sidecarPid) - sidecarBefore;
    const [stats, cpu] = await Promise.all([generator.stop(), server.cpuRead()]);
    if (context.options.profile) {
      const path = await server.profileStop(profilePath(label, 'cpuprofile'));
      context.log(`    profile: ${path}  (summary: node bench/dist/tools/cpuprofile-summary.js ${path})`);
    }
    if (context.options.allocations) {
      // Sampled from the start of the window to the end of its load: a little more than its events, never less.
      const { path, bytes } = await server.allocationStop(profilePath(label, 'heapprofile'));
      const perEvent = bytes / Math.max(1, stats.completed);
      context.log(`    allocations: ${(perEvent / 1024).toFixed(1)} KiB/event (${path}; node bench/dist/tools/heapprofile-summary.js ${path} --events=${stats.completed})`);
    }
    if (stats.errors > 0) throw new Error(`${label}: ${stats.errors} of ${stats.completed} events failed; first: ${stats.firstError}`);
    if (stats.completed === 0) throw new Error(`${label}: no event completed in the window`);
    const measurement: Measurement = {
      ...stats,
      serverCpuPerEventUs: cpu.cpuUs / stats.completed,
      serverWakeupsPerEvent: cpu.wakeups / stats.completed,
      serverGcPausePerEventUs: (cpu.gcPauseMs * 1000) / stats.completed,
      serverBusy: cpu.cpuUs / 1000 / cpu.wallMs,
      loadBusy: stats.loadCpuUs / 1000 / stats.windowMs,
      otherLoad: otherLoadBetween(ticksBefore, ticksAfter, cpu.cpuUs + stats.loadCpuUs + (sidecarUs || 0), cpu.wallMs),
      sessionRunsPerEvent: cpu.sessionCalls / stats.completed,
      sidecarCpuPerEventUs: sidecarUs / stats.completed,
    };
    context.log(
      `    ${label}: ${Math.round(measurement.throughput)} ev/s, p50 ${measurement.latency.p50.toFixed(3)} ms, p99 ${measurement.latency.p99.toFixed(3)} ms, ` +
        `server ${measurement.serverCpuPerEventUs.toFixed(1)} us/ev (busy ${(measurement.serverBusy * 100).toFixed(0)}%, ${measurement.serverWakeupsPerEvent.toFixed(2)} wake-ups/ev, ` +
        `GC pauses ${measurement.serverGcPausePerEventUs.toFixed(2)} us/ev), ` +
        `load generator busy ${(measurement.loadBusy * 100).toFixed(0)}%, ` +
        (sidecarPid === undefined ? '' : `redis-server ${measurement.sidecarCpuPerEventUs.toFixed(1)} us/ev, `) +
        `other processes ${(measurement.otherLoad * 100).toFixed(0)}% of the machine, ` +
        `session middleware ${measurement.sessionRunsPerEvent.toFixed(2)}/ev`,
    );
    return measurement;
  } finally {
    await generator.close();
  }
}

/** One measured run of a plan: a key, the server it runs against, and the load. */
export interface PlannedRun {
  key: string;
  server: ServerProcess;
  load: LoadConfig;
  /** Rounds of this run (default: the run's `--rounds`). */
  rounds?: number;
  /** A process the run also uses (its redis-server): its CPU per event is measured, and not counted as other load. */
  sidecarPid?: number;
  /**
   * Run the load once, unmeasured, before round 1: for a server whose code paths under this load keep compiling
   * (V8's optimizing compiler) well past one window's warm-up, so that round 1 does not time the compiler.
   */
  warmUp?: boolean;
}

/**
 * Measures every run of `plan`, `rounds` times (or its own), interleaved (round 1 of every run, then round 2, ...)
 * so that drift in the machine's speed hits every scenario alike; returns, per key, the median of each figure.
 */
export async function measurePlan(context: BenchContext, plan: PlannedRun[]): Promise<Map<string, Measurement>> {
  const measured = new Map<string, Measurement[]>();
  const roundsOf = (run: PlannedRun) => run.rounds ?? context.options.rounds;
  const most = Math.max(...plan.map(roundsOf));
  for (const run of plan) {
    if (run.warmUp) await measureOnce(context, run.server, `${run.key} (warm-up, not counted)`, run.load, context.options.durationMs, run.sidecarPid);
  }
  for (let round = 1; round <= most; round++) {
    for (const run of plan) {
      const rounds = roundsOf(run);
      if (round > rounds) continue;
      const label = rounds > 1 ? `${run.key} (round ${round}/${rounds})` : run.key;
      const measurement = await measure(context, run.server, label, run.load, undefined, run.sidecarPid);
      measured.set(run.key, [...(measured.get(run.key) ?? []), measurement]);
    }
  }
  return new Map([...measured].map(([key, runs]) => [key, medianMeasurement(runs)]));
}

/** Field-wise median of repeated measurements (one measurement is returned as is). */
export function medianMeasurement(runs: Measurement[]): Measurement {
  if (runs.length === 1) return runs[0];
  const of = (pick: (run: Measurement) => number) => median(runs.map(pick));
  return {
    ...runs[0],
    completed: of((run) => run.completed),
    windowMs: of((run) => run.windowMs),
    throughput: of((run) => run.throughput),
    latency: {
      p50: of((run) => run.latency.p50),
      p90: of((run) => run.latency.p90),
      p99: of((run) => run.latency.p99),
      mean: of((run) => run.latency.mean),
      max: of((run) => run.latency.max),
    },
    loadCpuUs: of((run) => run.loadCpuUs),
    serverCpuPerEventUs: of((run) => run.serverCpuPerEventUs),
    serverWakeupsPerEvent: of((run) => run.serverWakeupsPerEvent),
    serverGcPausePerEventUs: of((run) => run.serverGcPausePerEventUs),
    serverBusy: of((run) => run.serverBusy),
    loadBusy: of((run) => run.loadBusy),
    otherLoad: Math.max(...runs.map((run) => run.otherLoad)),
    sessionRunsPerEvent: of((run) => run.sessionRunsPerEvent),
    sidecarCpuPerEventUs: of((run) => run.sidecarCpuPerEventUs),
  };
}

/**
 * The worst share of the machine other processes took during `measured` windows, as a figure: the harness
 * cannot stop a busy machine from slowing the runs down, but it says when it happened.
 */
export function otherLoadFigure(name: string, measured: Iterable<{ otherLoad: number }>): BenchResult {
  const worst = Math.max(...[...measured].map((measurement) => measurement.otherLoad));
  if (Number.isNaN(worst)) return { ...reported(name, 0, '%'), value: null, note: 'unknown (no /proc/stat)' };
  return reported(name, worst * 100, '%', undefined, 'CPU share of the machine other processes took during the windows (worst); above ~10% expect noisy ratios');
}

/** Engine.IO's heartbeat interval on the servers the benches start (Socket.IO's and the bridge's default `pingInterval`). */
export const HEARTBEAT_INTERVAL_MS = 25_000;

/**
 * How long opened connections are left idle before a server's heap is read for them: a whole heartbeat and a little
 * more, so that every connection has answered a ping, as any connection idle for a while has, on both servers. A
 * connection read just after it opened still holds what its opening left behind (Engine.IO's emptied write queue's
 * backing store until its next heartbeat, on the bridge).
 */
export const IDLE_SETTLE_MS = HEARTBEAT_INTERVAL_MS + 2_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the selected benchmarks, prints one table, writes `bench/results/latest.json` and its chart `latest.svg`. */
export async function runBenchmarks(all: Benchmark[], argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
    return;
  }
  const { options, selected } = parsed;
  const unknown = selected.filter((id) => !all.some((benchmark) => benchmark.id === id));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const chosen = selected.length ? all.filter((benchmark) => selected.includes(benchmark.id)) : all;
  // Inherited by the server processes, which then load the library through library-override.js.
  if (options.lib) process.env.BENCH_REFLEX_LIB = options.lib;
  setServerNodeArgs(options.serverNodeArgs ?? []);
  const context: BenchContext = { options, log: (message) => console.log(message) };
  retriesUsed = 0;
  console.log(
    `ReflexBridge benchmarks: ${chosen.map((benchmark) => benchmark.id).join(', ')} | node ${process.version}, ${availableParallelism()} CPUs | ` +
      `window ${options.durationMs / 1000} s after ${options.warmupMs / 1000} s warm-up, ${options.clients} clients, rounds ${options.rounds}` +
      (options.lib ? ` | library: ${options.lib}` : '') +
      (options.serverNodeArgs ? ` | server node args: ${options.serverNodeArgs.join(' ')}` : ''),
  );
  console.log(`load average before: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
  const started = performance.now();
  const results: BenchResult[] = [];
  let failed = false;
  for (const benchmark of chosen) {
    console.log(`\n== ${benchmark.id}: ${benchmark.title}`);
    const benchStarted = performance.now();
    try {
      const figures = await benchmark.run(context);
      results.push(...figures);
      console.log(`\n${formatTable(figures)}\n  (${((performance.now() - benchStarted) / 1000).toFixed(1)} s)`);
    } catch (error) {
      failed = true;
      console.error(`!! ${benchmark.id} failed: ${(error as Error).stack ?? String(error)}`);
    }
  }
  console.log(`\nload average after: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
  console.log(`\n== all figures (${((performance.now() - started) / 1000).toFixed(0)} s)\n${formatTable(results)}`);
  const path = await writeResults(results, chosen.map((benchmark) => benchmark.id));
  console.log(`\nwritten: ${path}`);
  console.log(`chart: ${await writeResultsChart(path)}`);
  const missed = results.filter((result) => !result.met);
  if (missed.length) console.log(`targets not met: ${missed.map((result) => result.name).join(', ')} (reported, never asserted)`);
  const floorBound = missed.filter((result) => result.floorBound);
  if (floorBound.length) {
    console.log(`of which floor-bound in this run (the floor, measured beside them, misses the same target): ${floorBound.map((result) => `${result.name} (${result.floorBound})`).join(', ')}`);
  }
  if (failed) process.exitCode = 1;
}

/** True when the module at `moduleUrl` is the process's entry point (`node bench/dist/benchmarks/x.js`). */
export function isMain(moduleUrl: string): boolean {
  return Boolean(process.argv[1]) && pathToFileURL(resolve(process.argv[1])).href === moduleUrl;
}

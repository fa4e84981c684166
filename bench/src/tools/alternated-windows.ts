// One-client server CPU per event of several servers, in alternated windows: each cycle measures every server once,
// in turn (the order reversed every other cycle), so a machine whose speed drifts during the run favours none of them.
// Prints each cycle, then per server the median of its windows and the median (and quartiles) of its ratio to the
// first server's window of the same cycle, with where the server's time per event went, from /proc/<pid>/task/*/stat
// (10-ms ticks, fine over seconds): its main thread's user time, its main thread's system time (socket reads and
// writes), and its other threads' time (the GC's helpers, the JIT compiler). A cycle's line shows them as
// `total (user+system+other)`. For ratios of a few percent, which the `tiers` benchmark's medians
// per server cannot tell from the spread between its windows on a shared VM.
//
// `--clients=N` has N clients send at once instead of one (the server CPU under load, as `server_cpu_loaded`).
//
// `--allocations` also samples what each server allocates in each window (V8's sampling heap profiler, freed objects
// included, as the benchmarks' `--allocations`) and prints KiB per event beside its CPU; each window's profile goes to
// `.tmp/bench-profiles/alternated-<label>-<cycle>.heapprofile` for `heapprofile-summary.js`. Sampling costs CPU, so
// read CPU ratios from a run without it.
//
// Usage: node bench/dist/tools/alternated-windows.js [--cycles=12] [--window=2000] [--warmup=500] [--clients=1] [--allocations] SPEC ...
//   SPEC  label=kind[@lib dir][+node flag...]; kind: echo | floor | guarded | echo-in-nest | guarded-in-nest | echo-in-empty-nest | chain | chain-in-nest | none | auth_only | fast | full
//         e.g. echo=echo none=none before=none@.tmp/before/libs/reflex-bridge/dist semi1=none+--max-semi-space-size=1
//   (default: echo=echo floor=floor guarded=guarded none=none)
import { resolve } from 'node:path';
import { LoadProcess, ServerProcess } from '../harness/processes.js';
import { threadCpuUs } from '../peers/proc-cpu.js';
import { ONE_CLIENT_SCENARIOS, type ScenarioLoad } from '../harness/one-client-scenarios.js';
import { profilePath } from '../harness/benchmark.js';

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const cycles = Number(flag('cycles') ?? 12);
const windowMs = Number(flag('window') ?? 2_000);
const warmupMs = Number(flag('warmup') ?? 500);
const clients = Number(flag('clients') ?? 1);
const allocations = process.argv.includes('--allocations');
const specs = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

/** The kinds a server can be: the measuring tools' one-client scenarios. */
const KINDS = ONE_CLIENT_SCENARIOS;
type Load = ScenarioLoad;

interface Side {
  label: string;
  server: ServerProcess;
  load: Load;
  cpuUs: number[];
  /** Per event, each window: the main thread's system time, its user time, and the other threads' time. */
  systemUs: number[];
  mainUserUs: number[];
  otherThreadsUs: number[];
  /** Bytes allocated per event, each window (`--allocations`). */
  allocatedBytes: number[];
}

/** `label=kind[@lib][+flag...]` */
function parseSpec(spec: string): { label: string; kind: string; lib?: string; nodeFlags: string[] } {
  const equals = spec.indexOf('=');
  const label = spec.slice(0, Math.max(equals, 0));
  const rest = spec.slice(equals + 1);
  const [head = '', ...nodeFlags] = rest.split('+');
  const [kind = '', lib] = head.split('@');
  if (!label || !KINDS[kind]) throw new Error(`unknown server "${spec}": expected label=kind[@lib][+flag...], kind one of ${Object.keys(KINDS).join(', ')}`);
  return { label, kind, lib, nodeFlags };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const median = (values: number[]) => sorted(values)[Math.floor((values.length - 1) / 2)]!;
const quantile = (values: number[], q: number) => sorted(values)[Math.floor(q * (values.length - 1))]!;

/** Starts one server, of the workspace's build or of `spec.lib`. */
async function start(spec: ReturnType<typeof parseSpec>): Promise<ServerProcess> {
  if (spec.lib) process.env.BENCH_REFLEX_LIB = resolve(spec.lib);
  try {
    const server = await ServerProcess.start(spec.label, KINDS[spec.kind]!.server, undefined, spec.nodeFlags);
    if ('unavailable' in server) throw new Error(`${spec.label}: ${server.unavailable}`);
    return server;
  } finally {
    delete process.env.BENCH_REFLEX_LIB;
  }
}

async function measureWindow(side: Side, cycle: number): Promise<void> {
  const generator = await LoadProcess.setup(side.label, { ...side.load, url: side.server.url, clients, hydrate: true });
  try {
    await generator.start();
    await sleep(warmupMs);
    if (allocations) await side.server.allocationStart();
    await Promise.all([side.server.cpuMark(), generator.mark()]);
    const before = threadCpuUs(side.server.pid!);
    await sleep(windowMs);
    const [stats, cpu] = await Promise.all([generator.stop(), side.server.cpuRead()]);
    if (stats.errors > 0 || stats.completed === 0) throw new Error(`${side.label}: ${stats.errors} of ${stats.completed} events failed; first: ${stats.firstError}`);
    if (allocations) {
      // Events completed in the window, as the CPU: sampling ran from just before the mark to just after the stop.
      const profile = await side.server.allocationStop(profilePath(`alternated-${side.label}-${cycle}`, 'heapprofile'));
      side.allocatedBytes.push(profile.bytes / stats.completed);
    }
    side.cpuUs.push(cpu.cpuUs / stats.completed);
    const after = threadCpuUs(side.server.pid!);
    side.systemUs.push((after.mainSystem - before.mainSystem) / stats.completed);
    side.mainUserUs.push((after.mainUser - before.mainUser) / stats.completed);
    side.otherThreadsUs.push((after.otherThreads - before.otherThreads) / stats.completed);
  } finally {
    await generator.close();
  }
}

const sides: Side[] = [];
try {
  for (const spec of (specs.length ? specs : ['echo=echo', 'floor=floor', 'guarded=guarded', 'none=none']).map(parseSpec)) {
    sides.push({ label: spec.label, server: await start(spec), load: KINDS[spec.kind]!.load, cpuUs: [], systemUs: [], mainUserUs: [], otherThreadsUs: [], allocatedBytes: [] });
  }
  for (let cycle = 1; cycle <= cycles; cycle++) {
    for (const side of cycle % 2 ? sides : [...sides].reverse()) await measureWindow(side, cycle);
    const allocated = (side: Side) => (allocations ? ` ${(side.allocatedBytes.at(-1)! / 1024).toFixed(1)} KiB` : '');
    console.log(`cycle ${cycle}: ${sides.map((side) => `${side.label} ${side.cpuUs.at(-1)!.toFixed(1)} us (${side.mainUserUs.at(-1)!.toFixed(1)}+${side.systemUs.at(-1)!.toFixed(1)}+${side.otherThreadsUs.at(-1)!.toFixed(1)})${allocated(side)}`).join('  ')}`);
  }
  const base = sides[0]!;
  for (const side of sides) {
    const ratios = side.cpuUs.map((us, index) => us / base.cpuUs[index]!);
    console.log(
      `${side.label.padEnd(12)} ${median(side.cpuUs).toFixed(1)} us/event (main thread user ${median(side.mainUserUs).toFixed(1)}, system ${median(side.systemUs).toFixed(1)}; other threads ${median(side.otherThreadsUs).toFixed(1)})  ` +
        `vs ${base.label}: median ${median(ratios).toFixed(3)}×, quartiles ${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}` +
        (allocations ? `; allocated ${(median(side.allocatedBytes) / 1024).toFixed(1)} KiB/event` : ''),
    );
  }
} finally {
  for (const side of sides) await side.server.stop();
}

// Fairness under a flood: one victim client's event latency while another socket writes bursts of 20,000 events
// as fast as it can, against the victim's latency on an idle server in the same run.
import { isMain, measure, profilePath, runBenchmarks, sleep, type Benchmark, type BenchContext, type Measurement } from '../harness/benchmark.js';
import { LoadProcess, RpcLoadProcess, ServerProcess } from '../harness/processes.js';
import { compared, reported, type BenchResult, type Target } from '../harness/results.js';
import { median } from '../harness/stats.js';
import type { BridgeServerConfig, LoadConfig, LoadStats, WireEvent } from '../harness/types.js';
import { BENCH_LOGIN, event, LOOKUP_STATE, TIER_STATES } from '../harness/wire.js';
import type { FloodConfig, FloodStats } from '../load/flooder.js';

const FLOODER_MAIN = new URL('../load/flooder.js', import.meta.url);

/** Frames per burst: one socket write of about 3 MB. */
const BURST = 20_000;

const APP: BridgeServerConfig = { kind: 'bridge', suite: 'tiers', mode: 'full', auth: true };

/** The victim: one logged-in client sending `full`-tier events one after another. */
const VICTIM_EVENT = event(`${TIER_STATES.full}.bump`);

const MAX_TARGET: Target = { text: 'max < 20 ms while another socket floods', valueAtMost: 20 };

/**
 * The same app with a connection budget (`rateLimit.perConnection`, as every app has by default, per 10 s): high
 * enough for the victim, so that only the flooder is refused, with `rate_limited`, after its first second or so.
 * The victim sends up to about 10,000 events a second while the flooder is refused, 50,000 in its warm-up and
 * window (a budget of 40,000 refused one of its events once it got that fast); the flooder sends about 100,000 a
 * second.
 */
const LIMITED_APP: BridgeServerConfig = { ...APP, connectionBudget: 100_000 };

/** The floods, in table order; `limited` ones run against {@link LIMITED_APP}. */
const FLOODS: Array<{ id: string; event: WireEvent; limited?: boolean }> = [
  { id: 'full', event: event(`${TIER_STATES.full}.bump`) },
  { id: 'none', event: event(`${TIER_STATES.none}.bump`) },
  // An async handler that never waits for I/O: the token's queue is a chain of microtasks.
  { id: 'none_async', event: event(`${LOOKUP_STATE}.bump`) },
  // The flooder over its connection budget: refused at the door, before any queue.
  { id: 'none_rate_limited', event: event(`${TIER_STATES.none}.bump`), limited: true },
];

/** The flooding process (see `load/flooder.ts`). */
class FloodProcess extends RpcLoadProcess<FloodStats> {
  static async setup(label: string, config: FloodConfig): Promise<FloodProcess> {
    return new FloodProcess(await RpcLoadProcess.forkAndSetUp(`flooder ${label}`, FLOODER_MAIN, config, 60_000));
  }

  override stop(): Promise<FloodStats> {
    return super.stop(180_000);
  }
}

interface FloodedRun {
  victim: LoadStats;
  flood: FloodStats;
}

/**
 * One window with a flood running: the victim and the flooder set up, the flooder starts its bursts, the victim
 * its loop; after the warm-up both windows open together. The machine is busy by design here (the flooder takes
 * a core), so there is no "other load" check: the idle figures come from an ordinary {@link measure}.
 */
async function measureFlooded(context: BenchContext, server: ServerProcess, label: string, load: LoadConfig, flood: FloodConfig): Promise<FloodedRun> {
  const victim = await LoadProcess.setup(`${label} victim`, load);
  let flooder: FloodProcess | undefined;
  try {
    flooder = await FloodProcess.setup(label, flood);
    await flooder.start();
    await victim.start();
    await sleep(context.options.warmupMs);
    if (context.options.profile) await server.profileStart();
    await Promise.all([victim.mark(), flooder.mark()]);
    await sleep(context.options.durationMs);
    const [stats, floodStats] = await Promise.all([victim.stop(), flooder.stop()]);
    if (context.options.profile) {
      const path = await server.profileStop(profilePath(label, 'cpuprofile'));
      context.log(`    profile: ${path}  (summary: node bench/dist/tools/cpuprofile-summary.js ${path})`);
    }
    if (stats.errors > 0) throw new Error(`${label}: ${stats.errors} of the victim's ${stats.completed} events failed; first: ${stats.firstError}`);
    if (stats.completed === 0) throw new Error(`${label}: no victim event completed in the window`);
    const busy = floodStats.errors.busy ?? 0;
    context.log(
      `    ${label}: victim ${stats.completed} events, p50 ${stats.latency.p50.toFixed(3)} ms, p99 ${stats.latency.p99.toFixed(3)} ms, max ${stats.latency.max.toFixed(3)} ms; ` +
        `flooder ${floodStats.sent} sent, ${floodStats.answered} answered (${busy} busy) in ${floodStats.bursts} complete bursts, errors ${JSON.stringify(floodStats.errors)}`,
    );
    return { victim: stats, flood: floodStats };
  } finally {
    await Promise.all([victim.close(), flooder?.close()]);
  }
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const server = await ServerProcess.start('flood', APP);
  if ('unavailable' in server) throw new Error(server.unavailable);
  let limited: ServerProcess | undefined;
  try {
    const started = await ServerProcess.start('flood, rate-limited', LIMITED_APP);
    if ('unavailable' in started) throw new Error(started.unavailable);
    limited = started;
    const load: LoadConfig = { url: server.url, clients: 1, hydrate: true, login: BENCH_LOGIN, workload: [VICTIM_EVENT] };
    const idle: Measurement[] = [];
    const flooded = new Map<string, FloodedRun[]>();
    for (let round = 1; round <= context.options.rounds; round++) {
      const suffix = context.options.rounds > 1 ? ` (round ${round}/${context.options.rounds})` : '';
      idle.push(await measure(context, server, `idle${suffix}`, load));
      for (const flood of FLOODS) {
        const target = flood.limited ? limited : server;
        const config: FloodConfig = { url: target.url, login: BENCH_LOGIN, event: flood.event, burst: BURST };
        const measured = await measureFlooded(context, target, `${flood.id} flood${suffix}`, { ...load, url: target.url }, config);
        flooded.set(flood.id, [...(flooded.get(flood.id) ?? []), measured]);
      }
    }
    const of = <T>(runs: T[], pick: (run: T) => number) => median(runs.map(pick));
    const base = { p50: of(idle, (run) => run.latency.p50), p99: of(idle, (run) => run.latency.p99), max: of(idle, (run) => run.latency.max) };
    const results: BenchResult[] = [
      reported('flood/idle/latency_p50', base.p50, 'ms', undefined, 'baseline: the victim alone (one client, full-tier events, one after another)'),
      reported('flood/idle/latency_p99', base.p99, 'ms'),
      reported('flood/idle/latency_max', base.max, 'ms'),
    ];
    for (const flood of FLOODS) {
      const runs = flooded.get(flood.id)!;
      const name = `flood/${flood.id}`;
      const sent = of(runs, (run) => run.flood.sent);
      const answered = of(runs, (run) => run.flood.answered);
      const busy = of(runs, (run) => run.flood.errors.busy ?? 0);
      const rateLimited = of(runs, (run) => run.flood.errors.rate_limited ?? 0);
      const windowMs = of(runs, (run) => run.flood.windowMs);
      results.push(
        compared(`${name}/latency_p50`, of(runs, (run) => run.victim.latency.p50), base.p50, 'ms', undefined,
          `the victim while another socket writes ${flood.id} events in bursts of ${BURST.toLocaleString('en-US')}`),
        compared(`${name}/latency_p99`, of(runs, (run) => run.victim.latency.p99), base.p99, 'ms'),
        compared(`${name}/latency_max`, of(runs, (run) => run.victim.latency.max), base.max, 'ms', MAX_TARGET),
        reported(`${name}/flooder_answered`, (answered / windowMs) * 1000, 'events/s', undefined,
          `the flooder's frames answered per second (${sent.toLocaleString('en-US')} sent in the window)`),
        reported(`${name}/flooder_busy`, answered ? (busy / answered) * 100 : 0, '%', undefined, 'share of the answers that were `busy` (refused over the per-token queue cap)'),
        reported(`${name}/flooder_rate_limited`, answered ? (rateLimited / answered) * 100 : 0, '%', undefined, 'share of the answers that were `rate_limited` (refused over the connection budget)'),
      );
    }
    return results;
  } finally {
    await limited?.stop();
    await server.stop();
  }
}

export const floodBenchmark: Benchmark = {
  id: 'flood',
  title: 'fairness: one client\'s latency while another socket floods (bursts of 20,000 events), against the same client idle',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([floodBenchmark], process.argv.slice(2));

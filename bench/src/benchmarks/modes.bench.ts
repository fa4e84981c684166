import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { ServerProcess } from '../harness/processes.js';
import { boundedBy, compared, reported, type BenchResult, type Target } from '../harness/results.js';
import type { BridgeServerConfig, LoadConfig } from '../harness/types.js';
import { BENCH_LOGIN, event, MODE_STATES } from '../harness/wire.js';

/** Share of the mixed workload that hits UI-only state (the rest is bridge-aware). */
export const UI_SHARE = 0.8;

/** The mixed workload: 4 UI-only events, then 1 bridge-aware one; client i starts at position i. */
export const MIXED_WORKLOAD = [
  ...Array.from({ length: Math.round(UI_SHARE * 5) }, () => event(`${MODE_STATES.ui}.toggle`)),
  ...Array.from({ length: 5 - Math.round(UI_SHARE * 5) }, () => event(`${MODE_STATES.aware}.visit`)),
];

async function run(context: BenchContext): Promise<BenchResult[]> {
  const app = (mode: 'full' | 'smart'): BridgeServerConfig => ({ kind: 'bridge', suite: 'modes', mode, auth: true });
  const servers: ServerProcess[] = [];
  try {
    const start = async (mode: 'full' | 'smart') => {
      const server = await ServerProcess.start(mode, app(mode));
      if ('unavailable' in server) throw new Error(server.unavailable);
      servers.push(server);
      return server;
    };
    const full = await start('full');
    const smart = await start('smart');
    const load = (url: string, workload = MIXED_WORKLOAD): LoadConfig => ({ url, clients: context.options.clients, login: BENCH_LOGIN, hydrate: true, workload });
    const measured = await measurePlan(context, [
      { key: 'full mode', server: full, load: load(full.url) },
      { key: 'smart mode', server: smart, load: load(smart.url) },
      // Each kind of event of the mix alone, on the smart server: what the mix would reach if its events cost what
      // they cost apart (the ceiling below).
      { key: 'smart mode, UI-only events alone', server: smart, load: load(smart.url, MIXED_WORKLOAD.slice(0, 1)) },
      { key: 'smart mode, bridge-aware events alone', server: smart, load: load(smart.url, MIXED_WORKLOAD.slice(-1)) },
    ]);
    const base = measured.get('full mode')!;
    const candidate = measured.get('smart mode')!;
    const uiAlone = measured.get('smart mode, UI-only events alone')!;
    const awareAlone = measured.get('smart mode, bridge-aware events alone')!;
    // A saturated server spends 1/throughput seconds per event: the mix's ideal time per event is the weighted mean
    // of its kinds' own. With `full` a few times dearer than `none`, this ceiling sits near 2× on its own (with
    // `none` at 0.4× of `full`'s cost it is 1/(0.8 × 0.4 + 0.2) = 1.92×): a cheaper `full` lowers it.
    const ceiling = 1 / (UI_SHARE / uiAlone.throughput + (1 - UI_SHARE) / awareAlone.throughput);
    const workload = `${UI_SHARE * 100}% UI-only events, ${context.options.clients} clients`;
    const target: Target = { text: '≥ 2× full mode', ratioAtLeast: 2 };
    const ceilingFigure = compared(
      'modes/smart/ceiling',
      ceiling,
      base.throughput,
      'events/s',
      undefined,
      `the floor of smart: the mix's throughput if each event cost what it costs alone on the smart server (UI-only ${Math.round(uiAlone.throughput)} events/s, bridge-aware ${Math.round(awareAlone.throughput)} events/s), against full mode`,
    );
    return [
      reported('modes/full/throughput', base.throughput, 'events/s', undefined, `baseline: mode full, ${workload}`),
      reported('modes/full/server_cpu', base.serverCpuPerEventUs, 'us/event', undefined, `server CPU time per event under the ${context.options.clients}-client load`),
      boundedBy(compared('modes/smart/throughput', candidate.throughput, base.throughput, 'events/s', target), target, ceilingFigure),
      ceilingFigure,
      compared('modes/smart/server_cpu', candidate.serverCpuPerEventUs, base.serverCpuPerEventUs, 'us/event'),
      // The same ceiling in server CPU: what the mix's events cost alone, weighted, against what the mix cost. Unlike
      // throughput it leaves out the load generator, which shares the cores and costs the same for every kind.
      compared(
        'modes/smart/server_cpu_alone',
        UI_SHARE * uiAlone.serverCpuPerEventUs + (1 - UI_SHARE) * awareAlone.serverCpuPerEventUs,
        candidate.serverCpuPerEventUs,
        'us/event',
        undefined,
        `the mix's events alone on the smart server, weighted (UI-only ${uiAlone.serverCpuPerEventUs.toFixed(1)} us, bridge-aware ${awareAlone.serverCpuPerEventUs.toFixed(1)} us), against the mix`,
      ),
      compared('modes/smart/latency_p50', candidate.latency.p50, base.latency.p50, 'ms', undefined, `under load (${context.options.clients} clients)`),
      otherLoadFigure('modes/machine_other_load', measured.values()),
    ];
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

export const modesBenchmark: Benchmark = {
  id: 'modes',
  title: `mode smart against mode full on a mixed workload (${UI_SHARE * 100}% of events hit UI-only state)`,
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([modesBenchmark], process.argv.slice(2));

import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { ServerProcess } from '../harness/processes.js';
import { compared, reported, type BenchResult } from '../harness/results.js';
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
    const load = (url: string): LoadConfig => ({ url, clients: context.options.clients, login: BENCH_LOGIN, hydrate: true, workload: MIXED_WORKLOAD });
    const measured = await measurePlan(context, [
      { key: 'full mode', server: full, load: load(full.url) },
      { key: 'smart mode', server: smart, load: load(smart.url) },
    ]);
    const base = measured.get('full mode')!;
    const candidate = measured.get('smart mode')!;
    const workload = `${UI_SHARE * 100}% UI-only events, ${context.options.clients} clients`;
    return [
      reported('modes/full/throughput', base.throughput, 'events/s', undefined, `baseline: mode full, ${workload}`),
      reported('modes/full/server_cpu', base.serverCpuPerEventUs, 'us/event', undefined, `server CPU time per event under the ${context.options.clients}-client load`),
      compared('modes/smart/throughput', candidate.throughput, base.throughput, 'events/s', { text: '≥ 2× full mode', ratioAtLeast: 2 }),
      compared('modes/smart/server_cpu', candidate.serverCpuPerEventUs, base.serverCpuPerEventUs, 'us/event'),
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

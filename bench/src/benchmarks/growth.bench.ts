import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext, type PlannedRun } from '../harness/benchmark.js';
import { ServerProcess } from '../harness/processes.js';
import { compared, reported, type BenchResult } from '../harness/results.js';
import { CATALOG_STATE, event } from '../harness/wire.js';

/**
 * Each size gets a fresh server (mode `none`, so only the state machinery is measured); every client first
 * fills its own list with N rows, then sends events that change one other small var. The targets ("about the
 * same cost whatever the size") are checked on the one-client run, where each event is handled alone; the
 * throughput of several clients is reported too, but it also moves with how the two processes share 2 cores.
 */
async function run(context: BenchContext): Promise<BenchResult[]> {
  const { sizes, growthClients } = context.options;
  const servers = new Map<number, ServerProcess>();
  try {
    const plan: PlannedRun[] = [];
    for (const size of sizes) {
      const server = await ServerProcess.start(`rows=${size}`, { kind: 'bridge', suite: 'growth', mode: 'none', auth: false });
      if ('unavailable' in server) throw new Error(server.unavailable);
      servers.set(size, server);
      const load = { url: server.url, hydrate: true, setup: [event(`${CATALOG_STATE}.fill`, { rows: size })], workload: [event(`${CATALOG_STATE}.bump`)] };
      // The one-client windows carry the targets: as many rounds as tiers' (one window moves by ±20% on a shared VM).
      plan.push({ key: `rows=${size} latency`, server, load: { ...load, clients: 1, measureBytes: true }, rounds: context.options.cpuRounds });
      plan.push({ key: `rows=${size} throughput`, server, load: { ...load, clients: growthClients } });
    }
    const measured = await measurePlan(context, plan);
    const [first] = sizes;
    const base = { latency: measured.get(`rows=${first} latency`)!, throughput: measured.get(`rows=${first} throughput`)! };
    const note = `one client, events one at a time: the cost of an event alone`;
    const results: BenchResult[] = [
      reported(`growth/rows_${first}/latency_p50`, base.latency.latency.p50, 'ms', undefined, `baseline: a list of ${first} rows; ${note}`),
      reported(`growth/rows_${first}/server_cpu`, base.latency.serverCpuPerEventUs, 'us/event', undefined, note),
      reported(`growth/rows_${first}/throughput`, base.throughput.throughput, 'events/s', undefined, `${growthClients} clients, each with its own list`),
      reported(`growth/rows_${first}/reply_bytes`, base.latency.bytesPerReply ?? Number.NaN, 'bytes'),
    ];
    for (const size of sizes.slice(1)) {
      const latency = measured.get(`rows=${size} latency`)!;
      const throughput = measured.get(`rows=${size} throughput`)!;
      const flat = { text: `≤ 1.25× the ${first}-row figure`, ratioAtMost: 1.25 };
      results.push(
        compared(`growth/rows_${size}/latency_p50`, latency.latency.p50, base.latency.latency.p50, 'ms', flat),
        compared(`growth/rows_${size}/server_cpu`, latency.serverCpuPerEventUs, base.latency.serverCpuPerEventUs, 'us/event', flat),
        compared(`growth/rows_${size}/throughput`, throughput.throughput, base.throughput.throughput, 'events/s'),
        compared(`growth/rows_${size}/reply_bytes`, latency.bytesPerReply ?? Number.NaN, base.latency.bytesPerReply ?? Number.NaN, 'bytes'),
      );
    }
    results.push(otherLoadFigure('growth/machine_other_load', measured.values()));
    return results;
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
}

export const growthBenchmark: Benchmark = {
  id: 'growth',
  title: 'cost of an event that changes one small var, as an untouched list var grows',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([growthBenchmark], process.argv.slice(2));

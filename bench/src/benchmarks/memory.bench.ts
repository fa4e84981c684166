import { IDLE_SETTLE_MS, isMain, runBenchmarks, sleep, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { LoadProcess, ServerProcess } from '../harness/processes.js';
import { compared, reported, type BenchResult } from '../harness/results.js';
import type { ServerConfig, ServerMemory } from '../harness/types.js';

const TARGET_BYTES = 30 * 1024;
const WARM_CONNECTIONS = 20;

interface PerConnection {
  heap: number;
  rss: number;
  before: ServerMemory;
  after: ServerMemory;
}

/**
 * Opens `connections` connections to a fresh server, hydrates each (so the bridge holds a state per client),
 * leaves them idle, and divides the growth of the server's heap (after forced GC) by their number.
 * A few connections are opened and closed first, so lazily loaded code and first-use caches are in the
 * "before" figure, not spread over the connections.
 *
 * RSS is taken from a second batch of as many connections, opened beside the first: while the first batch opens, a
 * process reuses the pages it already holds (and a Nest app's gives some back to the system), so its RSS growth read
 * less than nothing for the bridge (−16 to −19 KB per connection in December's runs); the second batch's growth is
 * what each further connection costs.
 */
async function perConnection(context: BenchContext, label: string, config: ServerConfig): Promise<PerConnection> {
  const { server, before } = await warmedUp(label, config);
  try {
    const connections = context.options.connections;
    const started = performance.now();
    const load = await LoadProcess.setup(label, { url: server.url, clients: connections, hydrate: true, workload: [] });
    try {
      await sleep(IDLE_SETTLE_MS); // idle: every connection answered a ping, and pending writes and timers settled
      const after = await server.memory();
      const heap = (after.heapUsed - before.heapUsed) / connections;
      const more = await LoadProcess.setup(`${label} second batch`, { url: server.url, clients: connections, hydrate: true, workload: [] });
      let rss: number;
      let twice: ServerMemory;
      try {
        await sleep(IDLE_SETTLE_MS);
        twice = await server.memory();
        rss = (twice.rss - after.rss) / connections;
      } finally {
        await more.close();
      }
      context.log(
        `    ${label}: ${connections} connections hydrated in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
          `heap ${(before.heapUsed / 2 ** 20).toFixed(1)} → ${(after.heapUsed / 2 ** 20).toFixed(1)} MiB, ` +
          `rss ${(before.rss / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} → ${(twice.rss / 2 ** 20).toFixed(1)} MiB (a second batch), ` +
          `external ${((after.external - before.external) / connections).toFixed(0)} B/conn`,
      );
      return { heap, rss, before, after };
    } finally {
      await load.close();
    }
  } finally {
    await server.stop();
  }
}

/**
 * A fresh server once a few connections came and went (so lazily loaded code and first-use caches are in), and its
 * memory after GC then: what the process holds before any client stays.
 */
async function warmedUp(label: string, config: ServerConfig): Promise<{ server: ServerProcess; before: ServerMemory }> {
  const server = await ServerProcess.start(label, config);
  if ('unavailable' in server) throw new Error(server.unavailable);
  try {
    const warm = await LoadProcess.setup(`${label} warm-up`, { url: server.url, clients: WARM_CONNECTIONS, hydrate: true, workload: [] });
    await warm.close();
    await sleep(500);
    return { server, before: await server.memory() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** The heap a fresh server holds before any client stays (see {@link warmedUp}). */
async function heapAtStart(context: BenchContext, label: string, config: ServerConfig): Promise<number> {
  const { server, before } = await warmedUp(label, config);
  await server.stop();
  context.log(`    ${label}: heap at start ${(before.heapUsed / 2 ** 20).toFixed(1)} MiB`);
  return before.heapUsed;
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  // What any Nest app's process holds with a Socket.IO server in it: the baseline of the module's heap at start.
  const nestStart = await heapAtStart(context, 'echo beside an empty Nest app', { kind: 'echo', besideApp: 'nest' });
  const echo = await perConnection(context, 'echo', { kind: 'echo' });
  const bridge = await perConnection(context, 'bridge', { kind: 'bridge', suite: 'memory', mode: 'full', auth: false });
  const target = { text: '≤ 30 KiB per idle connection', valueAtMost: TARGET_BYTES };
  const n = context.options.connections;
  return [
    reported('memory/nest/heap_at_start', nestStart / 2 ** 20, 'MiB', undefined, 'baseline: an empty Nest app on Express and a bare Socket.IO server in one process, after GC'),
    compared('memory/bridge/heap_at_start', bridge.before.heapUsed / 2 ** 20, nestStart / 2 ** 20, 'MiB', undefined,
      'the memory bench app (ReflexBridgeModule on its in-memory defaults, two small states) before its idle connections, after GC: what the module adds to a worker before any client'),
    reported('memory/echo/heap_per_connection', echo.heap, 'bytes', undefined, `baseline: bare Socket.IO, ${n} idle connections`),
    reported('memory/echo/rss_per_connection', echo.rss, 'bytes'),
    compared('memory/bridge/heap_per_connection', bridge.heap, echo.heap, 'bytes', target, `${n} idle hydrated connections, two small states each`),
    compared('memory/bridge/rss_per_connection', bridge.rss, echo.rss, 'bytes', target,
      `the growth while a second batch of ${n} connections opens beside the first (the first reuses pages the process already holds); RSS varies between runs more than heap after GC, the steadier figure`),
  ];
}

export const memoryBenchmark: Benchmark = {
  id: 'memory',
  title: 'server heap and RSS per idle hydrated connection, against bare Socket.IO',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([memoryBenchmark], process.argv.slice(2));

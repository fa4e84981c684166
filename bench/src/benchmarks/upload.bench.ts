// `upload`: `POST /_upload` against a bare busboy endpoint on node:http that writes files to disk (the
// baseline, measured in the same run), in both modes of the endpoint, and the server's RSS growth while one big
// file streams through. See upload/ for the servers and the load generator.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMain, machineTicks, otherLoadBetween, otherLoadFigure, profilePath, runBenchmarks, sleep, type Benchmark, type BenchContext } from '../harness/benchmark.js';
import { compared, reported, unavailable, type BenchResult, type Target } from '../harness/results.js';
import { median } from '../harness/stats.js';
import { UPLOAD_HANDLERS } from '../harness/wire.js';
import { minorFaults, threadCpuUs, type ThreadCpu } from '../peers/proc-cpu.js';
import { readRss, RssSampler } from '../upload/proc-rss.js';
import { UploadLoadProcess, UploadServerProcess } from '../upload/upload-processes.js';
import type { SingleUpload, UploadLoadConfig, UploadServerConfig, UploadStats } from '../upload/upload-types.js';

const MiB = 2 ** 20;
/** Concurrent uploads of the throughput runs. */
const CONCURRENCY = [1, 4] as const;
const THROUGHPUT_TARGET: Target = { text: '≥ 0.8× busboy', ratioAtLeast: 0.8 };
const RSS_TARGET: Target = { text: '< 64 MiB', valueAtMost: 64 };

/** The three sides measured: the baseline, and our endpoint in each mode. */
type Side = 'busboy' | 'streaming' | 'buffered';
const OURS = ['streaming', 'buffered'] as const;

interface UploadMeasurement extends UploadStats {
  /** Server CPU time / wall time over the window (1 = one core saturated). */
  serverBusy: number;
  /** Server CPU time per MiB received, ms. */
  serverCpuPerMiBMs: number;
  otherLoad: number;
}

interface Servers {
  busboy: UploadServerProcess;
  /** Our app (serves both modes), or why it is not measured. */
  bridge: UploadServerProcess | { unavailable: string };
}

function loadConfig(server: UploadServerProcess, side: Side, clients: number, fileBytes: number): UploadLoadConfig {
  return {
    url: server.url,
    handler: side === 'busboy' ? UPLOAD_HANDLERS.streaming : UPLOAD_HANDLERS[side],
    clients,
    fileBytes,
    // The endpoint refuses tokens it does not know; the baseline has no sockets, and needs none.
    socket: side !== 'busboy',
  };
}

/** Starts the server of one side in a fresh process; our app answers `{unavailable}` when it cannot run. */
async function startServer(context: BenchContext, label: string, kind: 'busboy' | 'bridge', directory: string): Promise<UploadServerProcess | { unavailable: string }> {
  const store = join(directory, `${label.replace(/\W+/g, '-')}-store`);
  const temp = join(directory, `${label.replace(/\W+/g, '-')}-temp`);
  await mkdir(store, { recursive: true });
  await mkdir(temp, { recursive: true });
  const maxBytes = 2 * Math.max(context.options.uploadRssMb, context.options.uploadMb) * MiB;
  const config: UploadServerConfig = kind === 'busboy' ? { kind, directory: store } : { kind, directory: store, tempDirectory: temp, maxBytes };
  if (kind === 'bridge' && context.options.uploadBridge === 'off') return { unavailable: 'not measured (--upload-bridge=off)' };
  try {
    return await UploadServerProcess.start(label, config);
  } catch (error) {
    if (kind === 'busboy') throw error;
    return { unavailable: `the upload bench app failed to start: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Where the server's CPU per MiB went: its main thread (user + system), and its other threads. */
function threadShares(before: ThreadCpu, after: ThreadCpu, mib: number): string {
  const perMiB = (us: number) => (us / 1000 / mib).toFixed(2);
  return `main thread ${perMiB(after.mainUser - before.mainUser)} user + ${perMiB(after.mainSystem - before.mainSystem)} system, other threads ${perMiB(after.otherThreads - before.otherThreads)}`;
}

/**
 * One measured run: a fresh load generator sets up `load` against `server`, warms up, then the window opens on
 * both sides for `durationMs`. Fails when an upload failed, or when the server did not store what it received.
 */
/**
 * Waits until the kernel has written every dirty page to disk (`sync`). A window began with gigabytes still to write
 * back (an earlier window's files, the 1 GiB RSS run, or a whole earlier `upload` run): its own writes then waited
 * for them, and whichever side ran then read slow (our endpoint at 0.38-0.70× busboy in a run right after another,
 * 0.86-0.90× after a `sync`).
 */
function writeBack(): Promise<void> {
  return new Promise((resolve) => execFile('sync', () => resolve()));
}

async function measureUploads(context: BenchContext, server: UploadServerProcess, label: string, load: UploadLoadConfig): Promise<UploadMeasurement> {
  await writeBack();
  const storedBefore = await server.stored();
  const generator = await UploadLoadProcess.setup(label, load);
  try {
    await generator.start();
    await sleep(context.options.warmupMs);
    if (context.options.allocations) await server.allocationStart();
    if (context.options.profile) await server.profileStart();
    await Promise.all([server.cpuMark(), generator.mark()]);
    const ticksBefore = machineTicks();
    const threadsBefore = threadCpuUs(server.pid);
    const faultsBefore = minorFaults(server.pid);
    await sleep(context.options.durationMs);
    const ticksAfter = machineTicks();
    const [stats, cpu] = await Promise.all([generator.stop(), server.cpuRead()]);
    const threadsAfter = threadCpuUs(server.pid);
    if (context.options.profile) {
      const path = await server.profileStop(profilePath(label, 'cpuprofile'));
      context.log(`    profile: ${path}  (summary: node bench/dist/tools/cpuprofile-summary.js ${path})`);
    }
    const faults = minorFaults(server.pid) - faultsBefore;
    if (context.options.allocations) {
      // Sampled from the start of the window to the end of its load: a little more than its bytes, never less.
      const { path, bytes } = await server.allocationStop(profilePath(label, 'heapprofile'));
      const mib = Math.max(1, stats.bytes) / MiB;
      context.log(`    allocations: ${(bytes / 1024 / mib).toFixed(1)} KiB per MiB received (${path}; per MiB: node bench/dist/tools/heapprofile-summary.js ${path} --events=${mib.toFixed(2)})`);
    }
    if (stats.errors > 0) throw new Error(`${label}: ${stats.errors} upload(s) failed; first: ${stats.firstError}`);
    if (stats.bytes === 0) throw new Error(`${label}: no byte was sent in the window`);
    // Every upload the generator finished (warm-up, window, drain) must be on the server's disk in full: a
    // handler that dropped data would otherwise look fast.
    const stored = await server.stored();
    const bytes = stored.bytes - storedBefore.bytes;
    const files = stored.files - storedBefore.files;
    if (files < stats.completed || bytes !== files * load.fileBytes) {
      throw new Error(`${label}: the server stored ${files} file(s), ${bytes} bytes, for ≥ ${stats.completed} uploads of ${load.fileBytes} bytes`);
    }
    const measurement: UploadMeasurement = {
      ...stats,
      serverBusy: cpu.cpuUs / 1000 / cpu.wallMs,
      serverCpuPerMiBMs: cpu.cpuUs / 1000 / (stats.bytes / MiB),
      otherLoad: otherLoadBetween(ticksBefore, ticksAfter, cpu.cpuUs + stats.loadCpuUs, cpu.wallMs),
    };
    context.log(
      `    ${label}: ${measurement.throughput.toFixed(1)} MiB/s, ${stats.completed} uploads in the window, p50 ${stats.latency.p50.toFixed(1)} ms/upload, ` +
        `server ${measurement.serverCpuPerMiBMs.toFixed(2)} ms CPU/MiB (busy ${(measurement.serverBusy * 100).toFixed(0)}%; ${threadShares(threadsBefore, threadsAfter, stats.bytes / MiB)}; ${(faults / (stats.bytes / MiB)).toFixed(0)} page faults/MiB), ` +
        `load generator busy ${((stats.loadCpuUs / 1000 / stats.windowMs) * 100).toFixed(0)}%, other processes ${(measurement.otherLoad * 100).toFixed(0)}% of the machine`,
    );
    return measurement;
  } finally {
    await generator.close();
  }
}

interface RssRun {
  before: number;
  peak: number;
  growth: number;
  seconds: number;
  samples: number;
}

/**
 * A fresh server process; after two warm-up uploads (so lazily loaded code and first-use buffers are in the
 * "before" figure), one `uploadRssMb` file streams through while the orchestrator samples the server's RSS
 * from /proc every 20 ms. Growth = highest sample − RSS before the upload.
 */
async function rssGrowth(context: BenchContext, label: string, server: UploadServerProcess, side: Side): Promise<RssRun> {
  const bytes = context.options.uploadRssMb * MiB;
  const warmBytes = context.options.uploadMb * MiB;
  const load = await UploadLoadProcess.setup(label, loadConfig(server, side, 1, warmBytes));
  try {
    for (let i = 0; i < 2; i++) await load.single(warmBytes, 120_000);
    await sleep(500);
    const quiet: number[] = [];
    for (let i = 0; i < 5; i++) {
      quiet.push(await readRss(server.pid));
      await sleep(50);
    }
    const before = median(quiet);
    const storedBefore = await server.stored();
    const sampler = new RssSampler(server.pid, 20);
    sampler.start();
    let done: SingleUpload;
    try {
      // Generous: a 1 GiB upload on a loaded 2-core machine can take minutes.
      done = await load.single(bytes, 30 * 60_000);
    } catch (error) {
      await sampler.stop();
      throw error;
    }
    const samples = await sampler.stop();
    const stored = await server.stored();
    if (stored.bytes - storedBefore.bytes !== bytes) throw new Error(`${label}: the server stored ${stored.bytes - storedBefore.bytes} of ${bytes} bytes`);
    const peak = Math.max(before, ...samples);
    const run: RssRun = { before, peak, growth: peak - before, seconds: done.ms / 1000, samples: samples.length };
    context.log(
      `    ${label}: ${context.options.uploadRssMb} MiB in ${run.seconds.toFixed(1)} s (${(context.options.uploadRssMb / run.seconds).toFixed(0)} MiB/s); ` +
        `RSS ${(before / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB over ${samples.length} samples: +${(run.growth / MiB).toFixed(1)} MiB`,
    );
    return run;
  } finally {
    await load.close();
  }
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const { uploadMb, uploadRssMb, rounds } = context.options;
  const directory = await mkdtemp(join(tmpdir(), 'reflex-bench-upload-'));
  const results: BenchResult[] = [];
  /** Why each of our modes has no figure (absent: measured). */
  const missing = new Map<Side, string>();
  const giveUp = (side: Side, error: unknown) => {
    const reason = (error as Error).message.split('\n')[0];
    if (context.options.uploadBridge === 'on') throw error;
    missing.set(side, reason);
    context.log(`  !! ${side} (our endpoint): not measured: ${reason}`);
  };
  let servers: Servers | undefined;
  try {
    // --- throughput -------------------------------------------------------------------------------------
    const busboy = await startServer(context, 'busboy', 'busboy', directory);
    if ('unavailable' in busboy) throw new Error(busboy.unavailable);
    servers = { busboy, bridge: await startServer(context, 'bridge', 'bridge', directory) };
    if ('unavailable' in servers.bridge) {
      const reason = servers.bridge.unavailable;
      if (context.options.uploadBridge === 'on') throw new Error(reason);
      context.log(`  our endpoint is not measured, baseline only: ${reason}`);
      for (const side of OURS) missing.set(side, reason);
    }
    const measured = new Map<string, UploadMeasurement[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const clients of CONCURRENCY) {
        for (const side of ['busboy', ...OURS] as Side[]) {
          if (missing.has(side)) continue;
          const server = side === 'busboy' ? servers.busboy : (servers.bridge as UploadServerProcess);
          const key = `${side}/c${clients}`;
          const label = rounds > 1 ? `${side}, ${clients} at a time (round ${round}/${rounds})` : `${side}, ${clients} at a time`;
          try {
            const measurement = await measureUploads(context, server, label, loadConfig(server, side, clients, uploadMb * MiB));
            measured.set(key, [...(measured.get(key) ?? []), measurement]);
          } catch (error) {
            if (side === 'busboy') throw error;
            giveUp(side, error);
          }
        }
      }
    }
    const figure = (key: string, pick: (measurement: UploadMeasurement) => number) => median((measured.get(key) ?? []).map(pick));
    for (const clients of CONCURRENCY) {
      const base = `busboy/c${clients}`;
      const workload = `${uploadMb} MiB files, ${clients} upload${clients > 1 ? 's' : ''} at a time over loopback`;
      results.push(
        reported(`upload/busboy/c${clients}/throughput`, figure(base, (m) => m.throughput), 'MiB/s', undefined, `baseline: bare busboy on node:http writing to disk, ${workload}`),
        reported(`upload/busboy/c${clients}/latency_p50`, figure(base, (m) => m.latency.p50), 'ms', undefined, 'per upload, first byte sent to answer received'),
      );
      for (const side of OURS) {
        const key = `${side}/c${clients}`;
        const reason = measured.has(key) ? undefined : (missing.get(side) ?? 'not measured');
        if (reason) {
          results.push(unavailable(`upload/${side}/c${clients}/throughput`, 'MiB/s', THROUGHPUT_TARGET, reason));
          continue;
        }
        const note = side === 'streaming' ? '@EventUploadChunks(): each chunk written to disk as it arrives, 202' : '@EventUploads(): temp files moved into place, 200 NDJSON';
        results.push(
          compared(`upload/${side}/c${clients}/throughput`, figure(key, (m) => m.throughput), figure(base, (m) => m.throughput), 'MiB/s', THROUGHPUT_TARGET, note),
          compared(`upload/${side}/c${clients}/latency_p50`, figure(key, (m) => m.latency.p50), figure(base, (m) => m.latency.p50), 'ms'),
        );
      }
    }
    const allMeasured = [...measured.values()].flat();
    await Promise.all([servers.busboy.stop(), 'unavailable' in servers.bridge ? undefined : servers.bridge.stop()]);
    servers = undefined;

    // --- RSS while one big file streams through (fresh processes) ----------------------------------------
    const rssNote = `while one ${uploadRssMb} MiB file, generated on the fly, streams through; RSS sampled from /proc every 20 ms, peak − before`;
    const baselineServer = await startServer(context, 'busboy rss', 'busboy', directory);
    if ('unavailable' in baselineServer) throw new Error(baselineServer.unavailable);
    let baselineRss: RssRun;
    try {
      baselineRss = await rssGrowth(context, 'busboy, RSS', baselineServer, 'busboy');
    } finally {
      await baselineServer.stop();
    }
    results.push(reported('upload/busboy/rss_growth', baselineRss.growth / MiB, 'MiB', undefined, `baseline: ${rssNote}`));
    let oursRss: RssRun | undefined;
    if (!missing.has('streaming')) {
      const bridge = await startServer(context, 'bridge rss', 'bridge', directory);
      if ('unavailable' in bridge) giveUp('streaming', new Error(bridge.unavailable));
      else {
        try {
          oursRss = await rssGrowth(context, 'streaming, RSS', bridge, 'streaming');
        } catch (error) {
          giveUp('streaming', error);
        } finally {
          await bridge.stop();
        }
      }
    }
    results.push(
      oursRss
        ? compared('upload/streaming/rss_growth', oursRss.growth / MiB, baselineRss.growth / MiB, 'MiB', RSS_TARGET, `@EventUploadChunks(), ${rssNote}`)
        : unavailable('upload/streaming/rss_growth', 'MiB', RSS_TARGET, missing.get('streaming') ?? 'not measured'),
    );
    if (allMeasured.length) results.push(otherLoadFigure('upload/machine_other_load', allMeasured));
    return results;
  } finally {
    if (servers) await Promise.all([servers.busboy.stop(), 'unavailable' in servers.bridge ? undefined : servers.bridge.stop()]);
    await rm(directory, { recursive: true, force: true });
  }
}

export const uploadBenchmark: Benchmark = {
  id: 'upload',
  title: 'POST /_upload (streaming and buffered) against a bare busboy endpoint writing to disk, and server RSS during a big upload',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([uploadBenchmark], process.argv.slice(2));

// A server process of the benchmarks (forked by the orchestrator; never imported). It starts the baseline echo
// server or a bench app on a free loopback port and answers the orchestrator's calls: CPU time over a window,
// memory after forced GC (run with --expose-gc), and an optional CPU profile of the measured window.
import { mkdir } from 'node:fs/promises';
import { writeHeapSnapshot } from 'node:v8';
import { serveRpc } from '../harness/rpc.js';
import { CpuProfiler } from './cpu-profiler.js';
import { AllocationSampler } from './allocation-sampler.js';
import { CpuWindow } from './cpu-window.js';
import type { ServerConfig, ServerCpu, ServerMemory, ServerStarted } from '../harness/types.js';

let close: (() => Promise<void>) | undefined;
/** The measured window: this process's CPU time, or a peer process's (see peers/). */
const cpuWindow = new CpuWindow();
const profiler = new CpuProfiler();
const allocations = new AllocationSampler();

async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory needs the server forked with --expose-gc');
  // Twice, with a turn of the event loop between, so objects freed by finalizers and weak callbacks go too.
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A Nest app started only to sit idle in this process (see `EchoServerConfig.besideApp`). */
async function startIdleApp(kind: 'tiers' | 'nest'): Promise<{ close(): Promise<void> }> {
  if (kind === 'nest') {
    const { startEmptyNestApp } = await import('./empty-nest-app.js');
    return startEmptyNestApp();
  }
  const { startBridgeServer } = await import('./bridge-app.js');
  const app = await startBridgeServer({ kind: 'bridge', suite: 'tiers', mode: 'full', auth: true });
  if ('unavailable' in app) throw new Error(`the bridge app could not start: ${app.unavailable}`);
  return app;
}

serveRpc(
  {
    start: async (config: ServerConfig): Promise<ServerStarted> => {
      if (config.kind === 'echo') {
        const { startEchoServer } = await import('./echo-server.js');
        const beside = config.besideApp ? await startIdleApp(config.besideApp) : undefined;
        const server = await startEchoServer({ chain: config.chain, redisUrl: config.redisUrl, stateFloor: config.stateFloor });
        close = async () => {
          await server.close();
          await beside?.close();
        };
        cpuWindow.measure({ sessionCalls: server.sessionCalls });
        return { url: server.url };
      }
      if (config.kind === 'peer') {
        const { startPeer } = await import('../peers/start-peer.js');
        const server = await startPeer(config);
        if ('unavailable' in server) return server;
        close = server.close;
        cpuWindow.measure(server);
        return { url: server.url };
      }
      // Loaded only here, so the echo process never pays for Nest in its memory baseline.
      const { startBridgeServer } = await import('./bridge-app.js');
      const server = await startBridgeServer(config);
      if ('unavailable' in server) return server;
      close = server.close;
      cpuWindow.measure({ sessionCalls: server.sessionCalls });
      return { url: server.url };
    },
    cpuMark: () => cpuWindow.mark(),
    cpuRead: (): ServerCpu => cpuWindow.read(),
    memory: async (): Promise<ServerMemory> => {
      await collectGarbage();
      const { heapUsed, heapTotal, rss, external, arrayBuffers } = process.memoryUsage();
      return { heapUsed, heapTotal, rss, external, arrayBuffers };
    },
    heapSnapshot: async (name: string): Promise<string> => {
      await collectGarbage();
      const dir = new URL('../../../.tmp/bench-heap/', import.meta.url);
      await mkdir(dir, { recursive: true });
      return writeHeapSnapshot(new URL(`${name.replace(/[^\w.-]+/g, '_')}.heapsnapshot`, dir).pathname);
    },
    profileStart: () => profiler.start(),
    profileStop: (path: string) => profiler.stop(path),
    // `--allocations`: the bytes allocated over each measured window, sampled.
    allocationStart: () => allocations.start(),
    allocationStop: (path: string) => allocations.stop(path),
  },
  async () => {
    await close?.();
  },
);

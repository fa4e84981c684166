// A server process of the benchmarks (forked by the orchestrator; never imported). It starts the baseline echo
// server or a bench app on a free loopback port and answers the orchestrator's calls: CPU time over a window,
// memory after forced GC (run with --expose-gc), and an optional CPU profile of the measured window.
import { mkdir } from 'node:fs/promises';
import { writeHeapSnapshot } from 'node:v8';
import { serveRpc } from '../harness/rpc.js';
import { CpuProfiler } from './cpu-profiler.js';
import type { ServerConfig, ServerCpu, ServerMemory, ServerStarted } from '../harness/types.js';

let close: (() => Promise<void>) | undefined;
let sessionCalls: () => number = () => 0;
/** The measured server's CPU time so far, µs: this process's, or a peer process's read from /proc (see peers/). */
let cpuNowUs = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
let cpuMark: { cpuUs: number; at: number; sessionCalls: number } | undefined;
const profiler = new CpuProfiler();

async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory needs the server forked with --expose-gc');
  // Twice, with a turn of the event loop between, so objects freed by finalizers and weak callbacks go too.
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

serveRpc(
  {
    start: async (config: ServerConfig): Promise<ServerStarted> => {
      if (config.kind === 'echo') {
        const { startEchoServer } = await import('./echo-server.js');
        const server = await startEchoServer({ chain: config.chain, redisUrl: config.redisUrl });
        close = server.close;
        sessionCalls = server.sessionCalls;
        return { url: server.url };
      }
      if (config.kind === 'peer') {
        const { startPeer } = await import('../peers/start-peer.js');
        const server = await startPeer(config);
        if ('unavailable' in server) return server;
        close = server.close;
        sessionCalls = server.sessionCalls;
        cpuNowUs = server.cpuNowUs ?? cpuNowUs;
        return { url: server.url };
      }
      // Loaded only here, so the echo process never pays for Nest in its memory baseline.
      const { startBridgeServer } = await import('./bridge-app.js');
      const server = await startBridgeServer(config);
      if ('unavailable' in server) return server;
      close = server.close;
      sessionCalls = server.sessionCalls;
      return { url: server.url };
    },
    cpuMark: () => {
      cpuMark = { cpuUs: cpuNowUs(), at: performance.now(), sessionCalls: sessionCalls() };
    },
    cpuRead: (): ServerCpu => {
      if (!cpuMark) throw new Error('cpuRead before cpuMark');
      return { cpuUs: cpuNowUs() - cpuMark.cpuUs, wallMs: performance.now() - cpuMark.at, sessionCalls: sessionCalls() - cpuMark.sessionCalls };
    },
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
  },
  async () => {
    await close?.();
  },
);

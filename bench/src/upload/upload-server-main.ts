// Server process of the upload benchmark (forked by upload-processes.ts; never imported). Starts the busboy
// baseline or the bridge app on a free loopback port and answers: CPU time over a window, and what the server
// stored so far. Its RSS is read from outside, from /proc/<pid>/status (see proc-rss.ts), so that sampling it
// costs this process nothing.
import { serveRpc } from '../harness/rpc.js';
import type { ServerCpu } from '../harness/types.js';
import { CpuWindow } from '../server/cpu-window.js';
import { AllocationSampler } from '../server/allocation-sampler.js';
import { CpuProfiler } from '../server/cpu-profiler.js';
import type { StoredFiles, UploadServerConfig, UploadServerStarted } from './upload-types.js';
import type { startUploadBridgeServer as StartUploadBridgeServerFn } from './upload-bridge-app.js';

type StartUploadBridgeServer = typeof StartUploadBridgeServerFn;

let close: (() => Promise<void>) | undefined;
let stored: () => StoredFiles = () => ({ files: 0, bytes: 0 });
const cpuWindow = new CpuWindow();
const allocations = new AllocationSampler();
const profiler = new CpuProfiler();

serveRpc(
  {
    start: async (config: UploadServerConfig): Promise<UploadServerStarted> => {
      if (config.kind === 'busboy') {
        // Loaded only here, so the baseline process never pays for Nest in its memory figures.
        const { startBusboyUploadServer } = await import('./busboy-upload-server.js');
        const server = await startBusboyUploadServer(config.directory);
        close = server.close;
        stored = server.stored;
        return { url: server.url, pid: process.pid };
      }
      let startUploadBridgeServer: StartUploadBridgeServer;
      try {
        ({ startUploadBridgeServer } = await import('./upload-bridge-app.js'));
      } catch (error) {
        // E.g. a library build whose exports the bench app's static imports no longer find.
        return { unavailable: `the upload bench app did not load: ${(error as Error).message}` };
      }
      const server = await startUploadBridgeServer(config);
      if ('unavailable' in server) return server;
      close = server.close;
      stored = server.stored;
      return { url: server.url, pid: process.pid };
    },
    cpuMark: () => cpuWindow.mark(),
    cpuRead: (): ServerCpu => cpuWindow.read(),
    stored: (): StoredFiles => stored(),
    // `--allocations`: the bytes allocated over each measured window, sampled.
    allocationStart: () => allocations.start(),
    allocationStop: (path: string) => allocations.stop(path),
    // `--profile`: a CPU profile of each measured window.
    profileStart: () => profiler.start(),
    profileStop: (path: string) => profiler.stop(path),
  },
  async () => {
    await close?.();
  },
);

// The upload benchmark's child processes, as the orchestrator drives them.
import { RpcLoadProcess } from '../harness/processes.js';
import { RpcChild } from '../harness/rpc.js';
import type { AllocationProfile, ServerCpu } from '../harness/types.js';
import type { SingleUpload, StoredFiles, UploadLoadConfig, UploadServerConfig, UploadServerStarted, UploadStats } from './upload-types.js';

const UPLOAD_SERVER_MAIN = new URL('./upload-server-main.js', import.meta.url);
const UPLOAD_LOAD = new URL('./upload-load.js', import.meta.url);
const LIBRARY_OVERRIDE = new URL('../harness/library-override.js', import.meta.url);

/** An upload server process (busboy baseline or bridge app) on a free loopback port. */
export class UploadServerProcess {
  private constructor(
    private readonly child: RpcChild,
    readonly url: string,
    /** The server's process id (its RSS is read from /proc/<pid>/status). */
    readonly pid: number,
  ) {}

  /** Forks a server process and starts `config`; resolves `{unavailable}` (the process gone) when it cannot. */
  static async start(label: string, config: UploadServerConfig): Promise<UploadServerProcess | { unavailable: string }> {
    // --lib=<dir> (BENCH_REFLEX_LIB): the bridge app imports that build of the library instead of the workspace's.
    const override = process.env.BENCH_REFLEX_LIB ? ['--import', LIBRARY_OVERRIDE.href] : [];
    const child = RpcChild.fork(`upload server ${label}`, UPLOAD_SERVER_MAIN, override);
    try {
      const started = await child.call<UploadServerStarted>('start', config, 60_000);
      if ('unavailable' in started) {
        await child.shutdown();
        return started;
      }
      return new UploadServerProcess(child, started.url, started.pid);
    } catch (error) {
      await child.shutdown();
      throw error;
    }
  }

  cpuMark(): Promise<void> {
    return this.child.call('cpuMark');
  }

  cpuRead(): Promise<ServerCpu> {
    return this.child.call('cpuRead');
  }

  /** Files and bytes the server has written to disk so far. */
  stored(): Promise<StoredFiles> {
    return this.child.call('stored');
  }

  /** Starts sampling the server's allocations (see `AllocationSampler`). */
  allocationStart(): Promise<void> {
    return this.child.call('allocationStart');
  }

  /** Writes the allocations sampled since `allocationStart` to `path` (a `.heapprofile`); resolves with it and the bytes they add up to. */
  allocationStop(path: string): Promise<AllocationProfile> {
    return this.child.call('allocationStop', path, 60_000);
  }

  /** Starts a CPU profile of the server (see `CpuProfiler`). */
  profileStart(): Promise<void> {
    return this.child.call('profileStart');
  }

  /** Writes the CPU profile recorded since `profileStart` to `path` (a `.cpuprofile`); resolves with the path. */
  profileStop(path: string): Promise<string> {
    return this.child.call('profileStop', path, 60_000);
  }

  stop(): Promise<void> {
    return this.child.shutdown();
  }
}

/** An upload load generator process (see upload-load.ts). */
export class UploadLoadProcess extends RpcLoadProcess<UploadStats> {
  static async setup(label: string, config: UploadLoadConfig): Promise<UploadLoadProcess> {
    return new UploadLoadProcess(await RpcLoadProcess.forkAndSetUp(`upload load ${label}`, UPLOAD_LOAD, config, 120_000));
  }

  /** One upload of `fileBytes`, alone; resolves when its answer has arrived. */
  single(fileBytes: number, timeoutMs: number): Promise<SingleUpload> {
    return this.child.call('single', fileBytes, timeoutMs);
  }
}

// The upload benchmark's child processes, as the orchestrator drives them.
import { MeasuredServerProcess, RpcLoadProcess } from '../harness/processes.js';
import { RpcChild } from '../harness/rpc.js';
import { serverNodeFlags } from '../harness/server-node-flags.js';
import type { SingleUpload, StoredFiles, UploadLoadConfig, UploadServerConfig, UploadServerStarted, UploadStats } from './upload-types.js';

const UPLOAD_SERVER_MAIN = new URL('./upload-server-main.js', import.meta.url);
const UPLOAD_LOAD = new URL('./upload-load.js', import.meta.url);

/** An upload server process (busboy baseline or bridge app) on a free loopback port. */
export class UploadServerProcess extends MeasuredServerProcess {
  private constructor(
    child: RpcChild,
    readonly url: string,
    /** The server's process id (its RSS is read from /proc/<pid>/status). */
    readonly pid: number,
  ) {
    super(child);
  }

  /** Forks a server process and starts `config`; resolves `{unavailable}` (the process gone) when it cannot. */
  static async start(label: string, config: UploadServerConfig): Promise<UploadServerProcess | { unavailable: string }> {
    const child = RpcChild.fork(`upload server ${label}`, UPLOAD_SERVER_MAIN, serverNodeFlags());
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

  /** Files and bytes the server has written to disk so far. */
  stored(): Promise<StoredFiles> {
    return this.child.call('stored');
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

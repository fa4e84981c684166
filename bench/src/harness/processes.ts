import { RpcChild, type ProcessWrapper } from './rpc.js';
import { serverNodeFlags } from './server-node-flags.js';
import type { AllocationProfile, LoadConfig, LoadStats, ServerConfig, ServerCpu, ServerMemory, ServerStarted } from './types.js';

const SERVER_MAIN = new URL('../server/server-main.js', import.meta.url);
const LOAD_GENERATOR = new URL('../load/load-generator.js', import.meta.url);

/**
 * What every measured server process answers over RPC, whatever it serves: its CPU over a window, a CPU profile
 * (`--profile`) and sampled allocations (`--allocations`) of the window, and shutdown.
 */
export class MeasuredServerProcess {
  protected constructor(protected readonly child: RpcChild) {}

  cpuMark(): Promise<void> {
    return this.child.call('cpuMark');
  }

  cpuRead(): Promise<ServerCpu> {
    return this.child.call('cpuRead');
  }

  /** Starts a CPU profile of the server (see `CpuProfiler`). */
  profileStart(): Promise<void> {
    return this.child.call('profileStart');
  }

  /** Writes the CPU profile recorded since `profileStart` to `path` (a `.cpuprofile` for Chrome DevTools); resolves with the path. */
  profileStop(path: string): Promise<string> {
    return this.child.call('profileStop', path, 60_000);
  }

  /** Starts sampling the server's allocations (see `AllocationSampler`). */
  allocationStart(): Promise<void> {
    return this.child.call('allocationStart');
  }

  /** Writes the allocations sampled since `allocationStart` to `path` (a `.heapprofile`); resolves with it and the bytes they add up to. */
  allocationStop(path: string): Promise<AllocationProfile> {
    return this.child.call('allocationStop', path, 60_000);
  }

  stop(): Promise<void> {
    return this.child.shutdown();
  }
}

/** A server process (echo baseline or bench app) on a free loopback port. */
export class ServerProcess extends MeasuredServerProcess {
  private constructor(
    child: RpcChild,
    readonly url: string,
  ) {
    super(child);
  }

  /**
   * Forks a server process and starts `config` in it (under `wrapper` when given). Resolves `{unavailable}` (the
   * process already gone) when the server cannot run that configuration yet, e.g. a feature the library does not
   * have. `nodeFlags` go to the server's Node process only (V8 flags, say).
   */
  static async start(label: string, config: ServerConfig, wrapper?: ProcessWrapper, nodeFlags: string[] = []): Promise<ServerProcess | { unavailable: string }> {
    const child = RpcChild.fork(`server ${label}`, SERVER_MAIN, ['--expose-gc', ...serverNodeFlags(), ...nodeFlags], wrapper);
    try {
      // Under a wrapper (valgrind runs Node some 50 times slower) the app takes longer to start.
      const started = await child.call<ServerStarted>('start', config, wrapper ? 600_000 : 60_000);
      if ('unavailable' in started) {
        await child.shutdown();
        return started;
      }
      return new ServerProcess(child, started.url);
    } catch (error) {
      await child.shutdown();
      throw error;
    }
  }

  /** The server's process id (the wrapper's, when it runs under one). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Heap and RSS after forced garbage collection. */
  memory(): Promise<ServerMemory> {
    return this.child.call('memory');
  }

  /** Writes a heap snapshot of the server (after forced GC) into `.tmp/bench-heap/<name>.heapsnapshot`; returns its path. */
  heapSnapshot(name: string): Promise<string> {
    return this.child.call('heapSnapshot', name, 300_000);
  }

}

/**
 * A child process that drives load over the RPC protocol: forked and set up with a config, then started, marked
 * (the measured window opens) and stopped with its statistics, and closed.
 */
export class RpcLoadProcess<Stats> {
  protected constructor(protected readonly child: RpcChild) {}

  /** Forks `main` and runs its `setup`; the child is shut down when setup fails. */
  protected static async forkAndSetUp(label: string, main: URL, config: unknown, timeoutMs: number): Promise<RpcChild> {
    const child = RpcChild.fork(label, main);
    try {
      await child.call('setup', config, timeoutMs);
      return child;
    } catch (error) {
      await child.shutdown();
      throw error;
    }
  }

  start(): Promise<void> {
    return this.child.call('start');
  }

  mark(): Promise<void> {
    return this.child.call('mark');
  }

  stop(timeoutMs?: number): Promise<Stats> {
    return this.child.call('stop', undefined, timeoutMs);
  }

  /** Disconnects the clients and ends the process. */
  async close(): Promise<void> {
    await this.child.call('close').catch(() => undefined);
    await this.child.shutdown();
  }
}

/** A load generator process (see `load/load-generator.ts`). */
export class LoadProcess extends RpcLoadProcess<LoadStats> {
  static async setup(label: string, config: LoadConfig): Promise<LoadProcess> {
    return new LoadProcess(await RpcLoadProcess.forkAndSetUp(`load ${label}`, LOAD_GENERATOR, config, 300_000));
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A call from the orchestrator to a child process, over Node's IPC channel. */
interface RpcCall {
  rpc: number;
  method: string;
  params?: unknown;
}

/** The child's answer to an {@link RpcCall}. */
interface RpcReply {
  rpc: number;
  result?: unknown;
  error?: string;
}

/** A program a child process runs under, given Node and its arguments after its own (a profiler, valgrind). */
export interface ProcessWrapper {
  command: string;
  args: string[];
  /** Node flags the child gets besides its usual ones (e.g. `--perf-basic-prof` for the wrapper's profile). */
  nodeArgs?: string[];
}

/** Handlers a child process serves, by method name. */
export type RpcHandlers = Record<string, (params: never) => unknown>;

/**
 * A forked child process the orchestrator drives by request/response over IPC. Servers and load generators
 * are children, so the load never shares the server's event loop (nor the orchestrator's).
 */
export class RpcChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private exited?: string;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: RpcReply) => {
      const waiter = this.pending.get(message.rpc);
      if (!waiter) return;
      this.pending.delete(message.rpc);
      if (message.error !== undefined) waiter.reject(new Error(`${label}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    child.on('exit', (code, signal) => {
      this.exited = `${label} exited (code ${code}, signal ${signal})`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  /**
   * Forks `moduleUrl` (a compiled `.js` file URL) with the given Node flags. With `wrapper`, the child runs
   * under that program (`wrapper.command ...wrapper.args node <flags> <module>`, e.g. valgrind); its process id is
   * the wrapper's.
   */
  static fork(label: string, moduleUrl: URL, execArgv: string[] = [], wrapper?: ProcessWrapper): RpcChild {
    const nodeArgs = ['--disable-warning=ExperimentalWarning', ...execArgv];
    const child = fork(fileURLToPath(moduleUrl), [], {
      ...(wrapper ? { execPath: wrapper.command, execArgv: [...wrapper.args, process.execPath, ...(wrapper.nodeArgs ?? []), ...nodeArgs] } : { execArgv: nodeArgs }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new RpcChild(label, child);
  }

  /** The child's process id (to tell processes apart in `top`, profiles and logs). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Calls `method` in the child; rejects with the child's error message or after `timeoutMs`. */
  call<T>(method: string, params?: unknown, timeoutMs = 120_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const rpc = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`${this.label}: ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ rpc, method, params } satisfies RpcCall);
    });
  }

  /** Asks the child to exit through its `exit` handler, and kills it if it has not exited in time. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    // The child answers, then exits on its own; a child that hangs is killed by pid.
    this.call('exit', undefined, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Serves `handlers` in a child process. Besides them, `exit` answers and then ends the process (after the
 * optional `onExit` cleanup), so `--cpu-prof` and similar flags get to write their files.
 */
export function serveRpc(handlers: RpcHandlers, onExit?: () => Promise<void>): void {
  if (!process.send) throw new Error('serveRpc: this process was not forked with an IPC channel');
  const reply = (message: RpcReply) => process.send?.(message);
  process.on('message', (message: RpcCall) => {
    if (message.method === 'exit') {
      void (async () => {
        try {
          await onExit?.();
        } finally {
          reply({ rpc: message.rpc, result: null });
          process.disconnect?.();
          setTimeout(() => process.exit(0), 50).unref();
        }
      })();
      return;
    }
    const handler = handlers[message.method];
    if (!handler) {
      reply({ rpc: message.rpc, error: `unknown method ${message.method}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.params as never))
      .then(
        (result) => reply({ rpc: message.rpc, result: result ?? null }),
        (error: unknown) => reply({ rpc: message.rpc, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  // The orchestrator went away (Ctrl-C, crash): do not linger.
  process.on('disconnect', () => setTimeout(() => process.exit(0), 200).unref());
}

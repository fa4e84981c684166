import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The built shop entry point (`npx tsc -b tsconfig.build.json` writes it). */
export const SHOP_MAIN = join(repoRoot, 'apps', 'shop', 'dist', 'main.js');

const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

/** How much of a worker's output is kept for failure messages. */
const OUTPUT_LIMIT = 64 * 1024;

/** The built web app's page (`vite build` of apps/shop/web writes it). */
export const SHOP_WEB_INDEX = join(repoRoot, 'apps', 'shop', 'web', 'dist', 'index.html');

const VITE = join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js');
const CODEGEN = join(repoRoot, 'libs', 'reflex-bridge', 'dist', 'codegen', 'reflex-bridge.cli.js');
const GENERATED = join(repoRoot, 'apps', 'shop', 'web', 'src', 'generated', 'reflex-states.ts');

function run(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(process.execPath, args, { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`building the shop failed (${args.slice(0, 2).join(' ')}): ${error.message}\n${stdout}\n${stderr}`));
      else resolvePromise();
    });
  });
}

/** The newest modification time among these files and folders (recursively), 0 when none exists. */
function newest(paths: string[], filter: (path: string) => boolean = () => true): number {
  let latest = 0;
  const visit = (path: string): void => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) if (entry !== 'dist' && entry !== 'node_modules') visit(join(path, entry));
    } else if (filter(path)) latest = Math.max(latest, stat.mtimeMs);
  };
  for (const path of paths) visit(path);
  return latest;
}

/**
 * Builds the monorepo (`tsc -b tsconfig.build.json`: the libraries and `apps/shop/dist`), then, when their inputs
 * changed since the last time, the shop's typed states (`reflex-bridge codegen`) and its web app (`vite build` into
 * apps/shop/web/dist), as `npm run build` does. Incremental, so a second call in the same checkout takes a few
 * seconds. Rejects with the compiler's output when the build fails.
 */
export function buildShop(timeoutMs = 170_000): Promise<void> {
  building ??= (async () => {
    await run([TSC, '-b', 'tsconfig.build.json'], timeoutMs);
    const states = newest([join(repoRoot, 'apps', 'shop', 'dist')], (path) => path.endsWith('.js'));
    if (newest([GENERATED]) < states) {
      // Relative paths, as `npm run codegen:shop` gives them: the generated module names its source.
      await run([CODEGEN, 'codegen', '--app', 'apps/shop/dist/shop.codegen.js', '--out', 'apps/shop/web/src/generated/reflex-states.ts'], timeoutMs);
    }
    const web = join(repoRoot, 'apps', 'shop', 'web');
    const inputs = [join(web, 'src'), join(web, 'index.html'), join(web, 'vite.config.ts'), join(repoRoot, 'libs', 'reflex-react', 'dist'), join(repoRoot, 'libs', 'reflex-client', 'dist')];
    if (newest([SHOP_WEB_INDEX]) < newest(inputs)) await run([VITE, 'build', '--config', join(web, 'vite.config.ts'), '--logLevel', 'warn'], timeoutMs);
  })();
  // A failed build is not cached: the next call tries again.
  building.catch(() => (building = undefined));
  return building;
}

/** The build running or done in this process (each spec file builds at most once). */
let building: Promise<void> | undefined;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A crashed spec (or `--forceExit`) must not leave shop processes behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export interface ShopWorkerOptions {
  /** Environment on top of the test process's own (REDIS_URL, SQLITE_PATH, ...). */
  env?: Record<string, string | undefined>;
  /** Milliseconds to wait for "Shop listening on". @default 30_000 */
  startTimeoutMs?: number;
}

/**
 * One shop worker: `node apps/shop/dist/main.js` as a child process with its own `PORT`. It can be killed
 * (`SIGKILL`, as a crash) and started again on the same port, which keeps its place in an nginx upstream list.
 */
export class ShopWorker {
  private child?: ChildProcess;
  private log = '';
  /** How many times this worker was started (1 after the first start). */
  starts = 0;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly options: ShopWorkerOptions,
  ) {}

  /** Starts a worker on `port`, or on a free port (retrying when another process takes it first). */
  static async start(name: string, options: ShopWorkerOptions = {}, port?: number): Promise<ShopWorker> {
    for (let attempt = 1; ; attempt++) {
      const worker = new ShopWorker(name, port ?? (await freePort()), options);
      try {
        await worker.start();
        return worker;
      } catch (error) {
        if (port === undefined && attempt < 5 && /EADDRINUSE/.test(String(error))) continue;
        throw error;
      }
    }
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the process runs. */
  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last 64 KiB of the worker's stdout and stderr, across restarts. */
  output(): string {
    return this.log;
  }

  /** How the last process ended, e.g. `signal SIGKILL` or `code 1`; undefined while it runs. */
  exitStatus(): string | undefined {
    const child = this.child;
    if (!child || this.alive) return undefined;
    return child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
  }

  /** Starts the process (again) on this worker's port; resolves once it listens. */
  async start(): Promise<void> {
    if (this.alive) return;
    installExitHook();
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', SQLITE_PATH: ':memory:', ...this.options.env, PORT: String(this.port) };
    // The cluster mode forks its own workers: one process per port here.
    delete env.WORKERS;
    for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
    const child = spawn(process.execPath, [SHOP_MAIN], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    running.add(child);
    child.once('exit', () => running.delete(child));
    const marker = `[${this.name} #${this.starts} pid ${child.pid}] `;
    this.append(`${marker}starting on port ${this.port}\n`);
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    await new Promise<void>((resolvePromise, reject) => {
      let seen = '';
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolvePromise();
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new Error(`${this.name} did not listen on port ${this.port} within ${timeoutMs} ms:\n${seen}`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.append(text);
        if (!settled) {
          seen += text;
          if (seen.includes('Shop listening on')) settle();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (error) => settle(error));
      child.once('exit', (code, signal) => {
        this.append(`${marker}exited (code ${code}, signal ${signal})\n`);
        settle(new Error(`${this.name} exited before listening (code ${code}, signal ${signal}):\n${seen}`));
      });
    });
  }

  /** Sends `signal` and resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
    child.kill(signal);
    await exited;
  }

  /** A clean stop (SIGTERM: Nest's shutdown hooks run), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.kill('SIGTERM');
    clearTimeout(timer);
  }

  private append(text: string): void {
    this.log = (this.log + text).slice(-OUTPUT_LIMIT);
  }
}

/** Several shop workers sharing one environment (typically one `REDIS_URL`), each on its own port. */
export class ShopWorkers {
  private constructor(readonly workers: ShopWorker[]) {}

  /** Starts `count` workers one after the other (parallel starts only compete for the CPU). */
  static async start(count: number, options: ShopWorkerOptions = {}): Promise<ShopWorkers> {
    const workers: ShopWorker[] = [];
    try {
      for (let i = 0; i < count; i++) workers.push(await ShopWorker.start(`worker-${i}`, options));
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.stop()));
      throw error;
    }
    return new ShopWorkers(workers);
  }

  get ports(): number[] {
    return this.workers.map((worker) => worker.port);
  }

  /** Starts again, on their own ports, the workers that are not running. */
  async ensureRunning(): Promise<void> {
    for (const worker of this.workers) if (!worker.alive) await worker.start();
  }

  /** Stops every worker (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }

  /** Every worker's output, for failure messages. */
  output(): string {
    return this.workers.map((worker) => `----- ${worker.name} (port ${worker.port}) -----\n${worker.output()}`).join('\n');
  }
}

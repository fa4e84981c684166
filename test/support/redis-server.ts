import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe } from '@jest/globals';
import type { RedisClientType } from 'redis';
import { freePort } from './ports.js';

const INSTALL_HINT = 'install it with: apt-get install -y redis-server';

/** What `redis-server` logs once it listens (7.2 and later add " tcp"). */
/** A client as `createClient({ url })` from `redis` makes it (node-redis 6 speaks RESP3 unless told otherwise). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- node-redis's own spelling of "no modules, functions, scripts or type mapping"
export type TestRedisClient = RedisClientType<{}, {}, {}, 3, {}>;

export const REDIS_READY = 'Ready to accept connections';

/** `redis-server` could not bind its port: another process has it. */
class PortTakenError extends Error {}

/** Resolves when `PING` on 127.0.0.1:port answers `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * A real `redis-server` on a free loopback port with its data in a temporary directory, for e2e specs.
 * `stop()` / `start()` / `restart()` keep the port and the data (saved on shutdown), so a test can take the
 * server away under a running app and bring it back; `destroy()` stops it and removes the directory.
 */
export class RedisTestServer {
  private child?: ChildProcess;
  private output = '';
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  private constructor(
    readonly binary: string,
    readonly port: number,
    readonly dir: string,
    /** More `redis-server` arguments (`--maxmemory 2gb`), kept across restarts. */
    readonly extraArgs: readonly string[] = [],
  ) {}

  /** Path of `redis-server` on PATH (or in the usual places), or undefined when it is not installed. */
  static findBinary(): string | undefined {
    const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
    for (const dir of dirs) {
      if (!dir) continue;
      const candidate = join(dir, 'redis-server');
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; try the next directory
      }
    }
    return undefined;
  }

  /**
   * Starts a fresh server, on another free port when another process took the first one between the probe and the
   * bind (a port is only known to be free when it is checked). Throws when `redis-server` is not installed.
   * `extraArgs` are passed on, e.g. `['--maxmemory', '2gb']` for what docs/deploy.md sets up.
   */
  static async launch(extraArgs: readonly string[] = []): Promise<RedisTestServer> {
    const binary = RedisTestServer.findBinary();
    if (!binary) throw new Error(`redis-server not found; ${INSTALL_HINT}`);
    for (let attempt = 1; ; attempt++) {
      const server = new RedisTestServer(binary, await freePort(), mkdtempSync(join(tmpdir(), 'reflex-redis-')), extraArgs);
      process.once('exit', server.killOnExit);
      try {
        await server.start();
        return server;
      } catch (error) {
        await server.destroy();
        if (!(error instanceof PortTakenError) || attempt === 5) throw error;
      }
    }
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** True while the server process runs. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (again) on the same port and directory; resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.running) return;
    this.output = '';
    const child = spawn(
      this.binary,
      [
        '--port', String(this.port),
        '--bind', '127.0.0.1',
        '--dir', this.dir,
        // A save point makes redis-server write its data on SIGTERM, so restart() keeps it.
        '--save', '3600 1',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--protected-mode', 'no',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const collect = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4000));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const deadline = Date.now() + 15_000;
    // Ready once this process says it accepts connections, not at the first PONG: another server that holds the port
    // answers PING too, while this one is about to exit on "Address already in use".
    while (!this.output.includes(REDIS_READY) || !(await ping(this.port))) {
      if (!this.running) {
        const exited = `redis-server exited on port ${this.port}:\n${this.output}`;
        throw this.output.includes('Address already in use') ? new PortTakenError(exited) : new Error(exited);
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server (SIGTERM, so it saves; SIGKILL after 10 s), keeping the port reserved and the data. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A paused server would never act on SIGTERM.
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Freezes the server (SIGSTOP): connections stay open and commands are accepted by TCP but never answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a {@link pause}d server run again (SIGCONT): it answers what it was sent meanwhile. */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops and starts the server on the same port, data kept. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    process.removeListener('exit', this.killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `describe` when `redis-server` is installed. Otherwise the suite is skipped with a message saying what to
 * install, except under CI (`CI=true`), where a missing server is a failure and this throws.
 * `installed` is for testing this helper itself.
 */
export function describeWithRedis(
  name: string,
  fn: () => void,
  installed = RedisTestServer.findBinary() !== undefined,
): void {
  if (installed) {
    describe(name, fn);
    return;
  }
  const reason = `redis-server not found; ${INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(`${name}: ${reason} (a missing server fails the run under CI)`);
  process.stderr.write(`Skipping "${name}": ${reason}\n`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

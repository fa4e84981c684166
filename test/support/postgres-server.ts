import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';

import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe } from '@jest/globals';
import { freePort } from './ports.js';

const INSTALL_HINT = 'install it with: apt-get install -y postgresql';


function run(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * A real PostgreSQL server on a free loopback port with its cluster in a temporary directory, for e2e specs:
 * `initdb` (trust authentication, user `postgres`) and `pg_ctl` from `/usr/lib/postgresql/<version>/bin`,
 * run as the `postgres` OS user when the tests run as root (Postgres refuses to run as root).
 * `stop()` / `start()` / `restart()` keep the port and the data; `destroy()` stops it and removes the directory.
 */
export class PostgresTestServer {
  private readonly killOnExit = () => {
    this.resume();
    // Best effort when a test run dies without calling destroy(): pg_ctl daemonizes the server, so it would
    // otherwise outlive the test process.
    try {
      execFileSync(...this.command('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', 'stop']), { stdio: 'ignore' });
    } catch {
      // already stopped
    }
  };

  private paused = false;

  private constructor(
    readonly binDir: string,
    readonly port: number,
    readonly dir: string,
    private readonly asPostgresUser: boolean,
  ) {}

  /** The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`, or undefined. */
  static findBinDir(): string | undefined {
    const root = '/usr/lib/postgresql';
    if (!existsSync(root)) return undefined;
    const versions = readdirSync(root)
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const bin = join(root, version, 'bin');
      try {
        accessSync(join(bin, 'initdb'), constants.X_OK);
        accessSync(join(bin, 'pg_ctl'), constants.X_OK);
        return bin;
      } catch {
        // incomplete installation of this version; try an older one
      }
    }
    return undefined;
  }

  /** Creates a cluster and starts it. Throws when PostgreSQL is not installed. */
  static async launch(): Promise<PostgresTestServer> {
    const binDir = PostgresTestServer.findBinDir();
    if (!binDir) throw new Error(`PostgreSQL (initdb, pg_ctl) not found under /usr/lib/postgresql; ${INSTALL_HINT}`);
    const asRoot = userInfo().uid === 0;
    const dir = mkdtempSync(join(tmpdir(), 'reflex-pg-'));
    const server = new PostgresTestServer(binDir, await freePort(), dir, asRoot);
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, uid, gid);
    }
    await run(
      ...server.command('initdb', [
        '-D', server.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions',
      ]),
    );
    process.once('exit', server.killOnExit);
    await server.start();
    return server;
  }

  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (trust authentication: no password). */
  get connectionString(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Starts the server (again) on the same port and data; resolves once it accepts connections. */
  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.dir}`,
      '-c fsync=off',
      '-c full_page_writes=off',
    ].join(' ');
    try {
      await run(...this.command('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']));
    } catch (error) {
      const log = existsSync(join(this.dir, 'server.log')) ? readFileSync(join(this.dir, 'server.log'), 'utf8').slice(-3000) : '';
      throw new Error(`${(error as Error).message}\nserver.log:\n${log}`, { cause: error });
    }
  }

  /**
   * Freezes the whole cluster (SIGSTOP to the postmaster, then to every backend and auxiliary process): connections
   * stay open and TCP still accepts bytes and new connections, but nothing is answered, as with a hung host.
   */
  pause(): void {
    const postmaster = this.postmasterPid();
    if (postmaster === undefined) return;
    // The postmaster first, so that it forks no new backend that would escape the freeze.
    process.kill(postmaster, 'SIGSTOP');
    for (const pid of this.childPids(postmaster)) process.kill(pid, 'SIGSTOP');
    this.paused = true;
  }

  /** Lets a {@link pause}d cluster run again (SIGCONT): it answers what it was sent meanwhile. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const postmaster = this.postmasterPid();
    if (postmaster === undefined) return;
    for (const pid of this.childPids(postmaster)) process.kill(pid, 'SIGCONT');
    process.kill(postmaster, 'SIGCONT');
  }

  /** Stops the server (fast shutdown: open connections are terminated, as on a real restart). */
  async stop(): Promise<void> {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) return;
    // A frozen server would never act on the shutdown request.
    this.resume();
    await run(...this.command('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']));
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

  private postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private childPids(parent: number): number[] {
    const children: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ")".
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) children.push(Number(entry));
      } catch {
        // the process ended meanwhile
      }
    }
    return children;
  }

  private command(tool: string, args: string[]): [string, string[]] {
    const binary = join(this.binDir, tool);
    return this.asPostgresUser ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  }
}

/**
 * `describe` when PostgreSQL is installed. Otherwise the suite is skipped with a message saying what to
 * install, except under CI (`CI=true`), where a missing server is a failure and this throws.
 * `installed` is for testing this helper itself.
 */
export function describeWithPostgres(
  name: string,
  fn: () => void,
  installed = PostgresTestServer.findBinDir() !== undefined,
): void {
  if (installed) {
    describe(name, fn);
    return;
  }
  const reason = `PostgreSQL not found under /usr/lib/postgresql; ${INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(`${name}: ${reason} (a missing server fails the run under CI)`);
  process.stderr.write(`Skipping "${name}": ${reason}\n`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

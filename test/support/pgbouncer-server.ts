import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { eventually } from './eventually.js';
import { freePort } from './ports.js';

const BINARY = '/usr/sbin/pgbouncer';

/**
 * A real pgbouncer on a free loopback port in front of a test Postgres, in the given pooling mode (transaction
 * pooling is what breaks LISTEN). Trust authentication for user `postgres`, database `postgres`. Run as the
 * `postgres` OS user when the tests run as root (pgbouncer refuses to run as root).
 */
export class PgbouncerTestServer {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly asPostgresUser: boolean,
  ) {}

  /** Whether pgbouncer is installed (Debian package `pgbouncer`). */
  static installed(): boolean {
    return existsSync(BINARY);
  }

  /** Starts pgbouncer in front of `postgresPort`; resolves once a query goes through it. */
  static async launch(postgresPort: number, poolMode: 'session' | 'transaction'): Promise<PgbouncerTestServer> {
    if (!PgbouncerTestServer.installed()) throw new Error(`pgbouncer is not installed (${BINARY}); scripts/install-test-deps.sh installs it`);
    const asRoot = userInfo().uid === 0;
    const dir = mkdtempSync(join(tmpdir(), 'reflex-pgbouncer-'));
    const server = new PgbouncerTestServer(await freePort(), dir, asRoot);
    writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `postgres = host=127.0.0.1 port=${postgresPort} dbname=postgres`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${server.port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'userlist.txt')}`,
        `pool_mode = ${poolMode}`,
        `logfile = ${join(dir, 'pgbouncer.log')}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'),
    );
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      for (const name of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, name), uid, gid);
    }
    const [command, args] = server.command(['-d', join(dir, 'pgbouncer.ini')]);
    await new Promise<void>((resolve, reject) =>
      execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`pgbouncer failed to start: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
      ),
    );
    await eventually('pgbouncer to answer a query', async () => {
      const client = new pg.Client({ connectionString: server.connectionString });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, (ok) => ok);
    return server;
  }

  /** `postgresql://postgres@127.0.0.1:<port>/postgres`, through pgbouncer. */
  get connectionString(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Stops pgbouncer (by the pid in its pidfile) and removes its directory. */
  async destroy(): Promise<void> {
    const pidFile = join(this.dir, 'pgbouncer.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
        await eventually('pgbouncer to exit', () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        }, (gone) => gone);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private command(args: string[]): [string, string[]] {
    return this.asPostgresUser ? ['runuser', ['-u', 'postgres', '--', BINARY, ...args]] : [BINARY, args];
  }
}

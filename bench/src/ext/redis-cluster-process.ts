// A throwaway Redis Cluster for the benchmarks: `masters` masters with one replica each, every node a redis-server
// child process on free loopback ports (no persistence), joined with `redis-cli --cluster create`. Started and
// stopped by the orchestrator; waits on conditions (cluster_state:ok, replicas online), never for a fixed time.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class RedisClusterProcess {
  private constructor(
    private readonly children: ChildProcess[],
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  /** Starts the cluster, or answers why it cannot (no redis-server / redis-cli, or it did not come up). */
  static async start(masters = 3): Promise<RedisClusterProcess | { unavailable: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'bench-redis-cluster-'));
    const ports: number[] = [];
    const children: ChildProcess[] = [];
    const cluster = new RedisClusterProcess(children, ports, dir);
    try {
      for (let i = 0; i < masters * 2; i++) {
        const port = await freePort();
        const busPort = await freePort();
        ports.push(port);
        const child = spawn(
          'redis-server',
          ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no'],
          { stdio: 'ignore' },
        );
        children.push(child);
        const failed = new Promise<never>((_, reject) => child.once('error', (error) => reject(error)));
        await Promise.race([cluster.until(async () => (await cluster.cli(port, 'PING')).trim() === 'PONG', 10_000), failed]);
      }
      await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
      await cluster.until(async () => {
        for (const port of ports) {
          const info = await cluster.cli(port, 'CLUSTER', 'INFO');
          if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${ports.length}`)) return false;
        }
        const masterPorts = await cluster.masterPorts();
        if (masterPorts.length !== masters) return false;
        for (const port of masterPorts) {
          if (!/slave0:.*state=online/.test(await cluster.cli(port, 'INFO', 'replication'))) return false;
        }
        return true;
      }, 60_000);
      return cluster;
    } catch (error) {
      await cluster.stop();
      return { unavailable: `not available: could not start a Redis Cluster (${(error as Error).message})` };
    }
  }

  /** What `redisCluster.rootNodes` takes. */
  get rootNodes(): string[] {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`);
  }

  async cli(port: number, ...args: string[]): Promise<string> {
    return (await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 })).stdout;
  }

  /** Ports of the masters serving slots (`CLUSTER NODES` of the first node). */
  async masterPorts(): Promise<number[]> {
    const nodes = await this.cli(this.ports[0]!, 'CLUSTER', 'NODES');
    return nodes
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter((fields) => fields[2]!.includes('master') && fields.length > 8)
      .map((fields) => Number(fields[1]!.split('@')[0]!.split(':')[1]));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async until(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`no cluster within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** `INFO commandstats` of the given nodes, summed: calls per command (lower-case name). */
export async function commandCalls(cli: (port: number, ...args: string[]) => Promise<string>, ports: number[]): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const port of ports) {
    const stats = await cli(port, 'INFO', 'commandstats');
    for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, (calls.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return calls;
}

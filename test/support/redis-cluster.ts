import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe } from '@jest/globals';
import { freePort } from './ports.js';
import { REDIS_READY, RedisTestServer } from './redis-server.js';

const run = promisify(execFile);
const INSTALL_HINT = 'install it with: apt-get install -y redis-server (it brings redis-cli)';
/** Generous: a loaded 2-core machine may take seconds for what takes milliseconds here. */
const DEFAULT_WAIT_MS = 60_000;

/** One `redis-server` of the cluster. */
export interface ClusterNode {
  port: number;
  /** The cluster bus port (given explicitly: `port + 10000` may be taken or out of range). */
  busPort: number;
  child?: ChildProcess;
}

/** A node as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  failed: boolean;
  /** The master's id, for a replica. */
  masterId?: string;
  /** Slot ranges, for a master (`[from, to]`). */
  slots: Array<[number, number]>;
}

/** Waits until `predicate` resolves true (polled), or fails after `timeoutMs` naming `what`. */
async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A node's `redis-server` could not bind one of its ports: another process has it. */
class PortTakenError extends Error {}

/**
 * A client port and a cluster bus port for a new node, both free now and neither handed out before: two free-port
 * probes may return the same port, and two nodes given one port would fail to start.
 */
async function freshPorts(handedOut: Set<number>): Promise<{ port: number; busPort: number }> {
  const next = async () => {
    for (;;) {
      const port = await freePort();
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      return port;
    }
  };
  return { port: await next(), busPort: await next() };
}

/**
 * A real Redis Cluster for e2e specs: `masters` masters with one replica each (three and three by default), every
 * node a `redis-server` on a free loopback port with its data and `nodes.conf` in a temporary directory, joined with
 * `redis-cli --cluster create --cluster-replicas 1`. {@link launch} resolves once every node reports
 * `cluster_state:ok` and every master has its replica attached; {@link kill} SIGKILLs a node's process and
 * {@link untilFailedOver} waits until a replica took its slots (nothing sleeps for a fixed time).
 *
 * `cluster-node-timeout` is 2000 ms, so a failover takes a few seconds.
 */
export class RedisTestCluster {
  private readonly killOnExit = () => {
    for (const node of this.nodes) node.child?.kill('SIGKILL');
  };
  /** Ports of the nodes stopped with {@link freeze}: they are not asked anything until {@link thaw}. */
  private readonly frozen = new Set<number>();

  private constructor(
    readonly serverBinary: string,
    readonly cliBinary: string,
    readonly dir: string,
    readonly nodes: ClusterNode[],
  ) {}

  /** Path of `redis-cli` (next to `redis-server`, or on PATH), or undefined. */
  static findCli(): string | undefined {
    const server = RedisTestServer.findBinary();
    const dirs = [...(server ? [dirname(server)] : []), ...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
    for (const dir of dirs) {
      if (!dir) continue;
      const candidate = join(dir, 'redis-cli');
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
    return undefined;
  }

  /** Starts the nodes, creates the cluster and waits until it is fully up. Throws when Redis is not installed. */
  static async launch(masters = 3): Promise<RedisTestCluster> {
    const serverBinary = RedisTestServer.findBinary();
    const cliBinary = RedisTestCluster.findCli();
    if (!serverBinary || !cliBinary) throw new Error(`redis-server or redis-cli not found; ${INSTALL_HINT}`);
    const nodes: ClusterNode[] = [];
    const handedOut = new Set<number>();
    for (let i = 0; i < masters * 2; i++) nodes.push(await freshPorts(handedOut));
    const cluster = new RedisTestCluster(serverBinary, cliBinary, mkdtempSync(join(tmpdir(), 'reflex-redis-cluster-')), nodes);
    process.once('exit', cluster.killOnExit);
    try {
      await Promise.all(nodes.map((node) => cluster.startOnFreePorts(node, handedOut)));
      await run(cliBinary, ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
      await cluster.untilHealthy();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  /** `redis://127.0.0.1:<port>` of every node: what `redisCluster.rootNodes` takes. */
  get rootNodes(): string[] {
    return this.nodes.map((node) => `redis://127.0.0.1:${node.port}`);
  }

  /** The reply of a `redis-cli` command on one node (raw text). */
  async cli(port: number, ...args: string[]): Promise<string> {
    const { stdout } = await run(this.cliBinary, ['-p', String(port), ...args], { timeout: 10_000 });
    return stdout;
  }

  /** The layout as a live node sees it (`CLUSTER NODES` of the first node still running). */
  async layout(): Promise<ClusterNodeInfo[]> {
    const node = this.nodes.find((candidate) => this.answering(candidate));
    if (!node) throw new Error('Redis Cluster: no node is running');
    const { stdout } = await run(this.cliBinary, ['-p', String(node.port), 'CLUSTER', 'NODES'], { timeout: 10_000 });
    return stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, master, , , , , ...slots] = line.split(' ');
        const port = Number(address!.split('@')[0]!.split(':')[1]);
        return {
          id: id!,
          port,
          role: flags!.includes('master') ? ('master' as const) : ('replica' as const),
          failed: /\bfail\b/.test(flags!),
          masterId: master === '-' ? undefined : master,
          slots: slots
            .filter((range) => !range.startsWith('['))
            .map((range) => {
              const [from, to] = range.split('-').map(Number);
              return [from!, to ?? from!] as [number, number];
            }),
        };
      });
  }

  /** The port of the master serving `slot`. */
  async masterOf(slot: number): Promise<number> {
    const master = (await this.layout()).find((node) => node.role === 'master' && !node.failed && node.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!master) throw new Error(`Redis Cluster: no live master serves slot ${slot}`);
    return master.port;
  }

  /** The ports of the live masters. */
  async masterPorts(): Promise<number[]> {
    return (await this.layout()).filter((node) => node.role === 'master' && !node.failed && node.slots.length > 0).map((node) => node.port);
  }

  /** `CLUSTER KEYSLOT key`, as Redis computes it. */
  async keyslot(key: string): Promise<number> {
    const node = this.nodes.find((candidate) => this.answering(candidate))!;
    const { stdout } = await run(this.cliBinary, ['-p', String(node.port), 'CLUSTER', 'KEYSLOT', key], { timeout: 10_000 });
    return Number(stdout.trim());
  }

  /**
   * Starts the node on `port` again (after {@link kill}), with its `nodes.conf`: a master that lost its slots rejoins
   * as a replica of the one that took over. Resolves once every master has an online replica again.
   */
  async restart(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`Redis Cluster: no node on port ${port}`);
    if (!this.running(node)) await this.start(node);
    await this.untilHealthy();
  }

  /** SIGKILLs the node on `port` (no save, no goodbye: as a crashed machine). */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    const child = node?.child;
    if (!child || !this.running(node)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Waits until the replica of the master on `port` has every write the master made so far (replication offsets). */
  async untilReplicated(port: number): Promise<void> {
    const offset = Number(/master_repl_offset:(\d+)/.exec(await this.cli(port, 'INFO', 'replication'))?.[1]);
    await until(async () => {
      const replica = /slave0:.*offset=(\d+)/.exec(await this.cli(port, 'INFO', 'replication'));
      return replica !== null && Number(replica[1]) >= offset;
    }, `the replica of the master on port ${port} to catch up`);
  }

  /**
   * SIGSTOPs the node on `port`: its process keeps its connections (the kernel still accepts and acknowledges) but
   * answers nothing, as a frozen VM or a network black hole. The other nodes see it fail after `cluster-node-timeout`.
   */
  freeze(port: number): void {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node?.child || !this.running(node)) throw new Error(`Redis Cluster: no running node on port ${port}`);
    this.frozen.add(port);
    node.child.kill('SIGSTOP');
  }

  /** SIGCONTs a node stopped with {@link freeze}. */
  thaw(port: number): void {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!this.frozen.delete(port)) return;
    node?.child?.kill('SIGCONT');
  }

  /** Waits until a replica took over the slots of the dead master on `port` and the cluster is ok again. */
  async untilFailedOver(port: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await until(
      async () => {
        const layout = await this.layout();
        const dead = layout.find((node) => node.port === port);
        if (!dead?.failed) return false;
        // Every slot served by a live master.
        const covered = layout.filter((node) => node.role === 'master' && !node.failed).reduce((sum, node) => sum + node.slots.reduce((n, [from, to]) => n + to - from + 1, 0), 0);
        return covered === 16384 && (await this.allOk());
      },
      `a replica to take over from the master on port ${port}`,
      timeoutMs,
    );
  }

  /** `INFO commandstats` of every live master, summed: calls per command (lower-case name). */
  async commandCalls(): Promise<Map<string, number>> {
    const calls = new Map<string, number>();
    for (const port of await this.masterPorts()) {
      const { stdout } = await run(this.cliBinary, ['-p', String(port), 'INFO', 'commandstats'], { timeout: 10_000 });
      for (const match of stdout.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, (calls.get(match[1]!) ?? 0) + Number(match[2]));
    }
    return calls;
  }

  /** Stops every node and removes the directory. */
  async destroy(): Promise<void> {
    for (const port of [...this.frozen]) this.thaw(port);
    await Promise.all(this.nodes.map((node) => this.kill(node.port)));
    process.removeListener('exit', this.killOnExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private running(node: ClusterNode): boolean {
    return !!node.child && node.child.exitCode === null && node.child.signalCode === null;
  }

  /** Running and not frozen: it answers. */
  private answering(node: ClusterNode): boolean {
    return this.running(node) && !this.frozen.has(node.port);
  }

  /** Every live node says `cluster_state:ok` and knows every node. */
  private async allOk(): Promise<boolean> {
    for (const node of this.nodes.filter((candidate) => this.answering(candidate))) {
      const info = await this.cli(node.port, 'CLUSTER', 'INFO');
      if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${this.nodes.length}`)) return false;
    }
    return true;
  }

  private async untilHealthy(): Promise<void> {
    await until(async () => {
      if (!(await this.allOk())) return false;
      const layout = await this.layout();
      const masters = layout.filter((node) => node.role === 'master');
      if (masters.length !== this.nodes.length / 2) return false;
      // Every replica attached to its master and in sync (WAIT needs them).
      for (const master of masters) {
        const replication = await this.cli(master.port, 'INFO', 'replication');
        if (!/connected_slaves:1\b/.test(replication) || !/slave0:.*state=online/.test(replication)) return false;
      }
      return true;
    }, 'the cluster to be up (cluster_state:ok on every node, every replica online)');
  }

  private async start(node: ClusterNode): Promise<void> {
    const dir = join(this.dir, String(node.port));
    mkdirSync(dir, { recursive: true });
    let output = '';
    const child = spawn(
      this.serverBinary,
      [
        '--port', String(node.port),
        '--cluster-port', String(node.busPort),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', '2000',
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--protected-mode', 'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    node.child = child;
    const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const deadline = Date.now() + DEFAULT_WAIT_MS;
    for (;;) {
      // Checked before each PING, and never swallowed: a node that exited is not waited for until the deadline.
      if (!this.running(node)) {
        const exited = `redis-server exited on port ${node.port} (cluster bus ${node.busPort}):\n${output}`;
        throw output.includes('Address already in use') ? new PortTakenError(exited) : new Error(exited);
      }
      // This node's own "ready" first: a server of another process on the port answers PING too.
      if (output.includes(REDIS_READY) && (await this.cli(node.port, 'PING').then((reply) => reply.trim() === 'PONG', () => false))) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for redis-server on port ${node.port} to answer PING\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Starts a new node, on other ports when another process took one of its ports between {@link freshPorts} and the
   * bind (a port is only known to be free when it is checked).
   */
  private async startOnFreePorts(node: ClusterNode, handedOut: Set<number>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start(node);
        return;
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt === 5) throw error;
        Object.assign(node, await freshPorts(handedOut));
      }
    }
  }
}

/**
 * `describe` when `redis-server` and `redis-cli` are installed; otherwise skipped with a message saying what to
 * install, except under CI (`CI=true`), where a missing server is a failure and this throws.
 */
export function describeWithRedisCluster(name: string, fn: () => void): void {
  if (RedisTestServer.findBinary() && RedisTestCluster.findCli()) {
    describe(name, fn);
    return;
  }
  const reason = `redis-server or redis-cli not found; ${INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(`${name}: ${reason} (a missing server fails the run under CI)`);
  process.stderr.write(`Skipping "${name}": ${reason}\n`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

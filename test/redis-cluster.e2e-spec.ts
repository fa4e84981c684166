/**
 * ReflexBridge on a REAL Redis Cluster: three masters and three replicas (Debian's redis-server, loopback, started by
 * test/support/redis-cluster.ts), and two bridge workers (two Nest apps in this process, `redisCluster` option):
 *
 * a. States, locks and handoffs shard by client token: many tokens' events on both workers, every token's keys in
 *    its own slot, spread over the masters; a change made on worker B reaches a socket on worker A through the
 *    sharded Socket.IO adapter, and the token's lock goes back and forth between the workers.
 * b. SIGKILL of one master's process while clients on both workers keep sending events: events answer structured
 *    errors (never a crash) until a replica took over, then work again on every token; the killed node is started
 *    again and rejoins as a replica; no update a client got acknowledged is lost.
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { createCluster } from 'redis';
import { EventCacheService, EventGateway, RATE_LIMIT_STORAGE, RedisConnections, ReflexBridgeModule, ReflexStateService, type RateLimitStorage } from '@reflex-bridge/nest';
import { CookieHandoffService } from '../libs/reflex-bridge/src/bridge/session/cookie-handoff.service.js';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

const COUNTER = 'reflex___state____state.counter_state';
const INCREMENT = `${COUNTER}.increment`;
const stateKey = (token: string) => `rx:state:v2:{${token}}`;
/** What an event may answer while a master is down or being replaced: structured store errors. */
const STORE_FAILURES = new Set(['state_unavailable', 'state_outcome_unknown']);

/** The part of node-redis's cluster client a failure's report reads: the connection it holds to each master. */
interface NodeRedisMasters {
  masters: { address: string; client?: { isOpen: boolean; isReady: boolean } }[];
}

/** A client that sends `increment` events one at a time and records what each got. */
class Clicker {
  /** The highest count a delta acknowledged. */
  acked = 0;
  /** Acknowledged events. */
  acks = 0;
  /** Events whose outcome is unknown (a store answer lost, or no answer in time): they may have been saved. */
  uncertain = 0;
  readonly codes: string[] = [];
  /** The last error's message: what the store said, for a failure's report. */
  lastMessage?: string;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(readonly socket: RawSocket) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const updates = this.socket.updates.length;
      const errors = this.socket.errors.length;
      this.socket.send(INCREMENT);
      let answered = false;
      try {
        await this.socket.until(() => this.socket.updates.length > updates || this.socket.errors.length > errors, 30_000, 'an answer to increment');
        answered = true;
      } catch {
        this.uncertain++;
      }
      if (!answered) continue;
      const update = this.socket.updates.slice(updates).find((candidate) => typeof candidate.delta?.[COUNTER]?.['count_rx_state_'] === 'number');
      if (update) {
        this.acked = Math.max(this.acked, update.delta![COUNTER]!['count_rx_state_'] as number);
        this.acks++;
        // About 30 events a second: a steady user, well inside the connection's event budget (500 per 10 s).
        await new Promise((resolve) => setTimeout(resolve, 30));
        continue;
      }
      const error = this.socket.errors[errors];
      if (error) {
        this.codes.push(error.code);
        this.lastMessage = error.message;
        if (error.code === 'state_outcome_unknown') this.uncertain++;
        // Like a client backing off after an error, without hammering a shard that is being replaced (nor running
        // into its connection's event budget).
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

describeWithRedisCluster('ReflexBridge on a real Redis Cluster (3 masters + 3 replicas), two workers', () => {
  let cluster: RedisTestCluster;
  let data: ReturnType<typeof createCluster>;
  let workers: RunningApp[] = [];
  /** What each worker logged: a failure's report ends with their last lines (what the store and the cluster said). */
  const logs = [new CapturingLogger(), new CapturingLogger()];
  const lastLogLines = (): string =>
    logs
      .map((log, i) => `worker ${i}: ${log.lines.filter((line) => line.level !== 'debug' && line.level !== 'verbose').slice(-8).map((line) => `[${line.level}] ${line.message.slice(0, 300)}`).join(' | ')}`)
      .join('\n');
  const sockets: RawSocket[] = [];
  /**
   * Where each worker sends the commands of `token` (the master its layout names for the token's slot, and the state
   * of its connection there) beside the master `CLUSTER NODES` names: a layout kept stale, or a connection left closed
   * or down, shows here.
   */
  const routeOf = async (token: string): Promise<string> => {
    const key = stateKey(token);
    const slot = await cluster.keyslot(key);
    const owner = await cluster.masterOf(slot).then((port) => `127.0.0.1:${port}`, (error: Error) => error.message);
    const believed = workers.map((worker, i) => {
      const commands = worker.app.get(RedisConnections).clusterCommands!;
      const address = commands.masterOf(key);
      const master = (commands.cluster as unknown as NodeRedisMasters).masters.find((candidate) => candidate.address === address);
      const connection = !master ? 'not among its masters' : !master.client ? 'no connection' : master.client.isReady ? 'ready' : master.client.isOpen ? 'open, not ready' : 'closed';
      return `worker ${i} sends to ${address ?? 'no master'} (${connection})`;
    });
    return `token ${token.slice(0, 8)}… slot ${slot}: CLUSTER NODES names ${owner}; ${believed.join('; ')}`;
  };
  /** A failure's report: each stuck client's route (see {@link routeOf}), the cluster's layout, the workers' last log lines. */
  const report = async (stuck: Clicker[]): Promise<string> => {
    const routes = await Promise.all(stuck.map((clicker) => routeOf(clicker.socket.token).catch((error: Error) => `token ${clicker.socket.token.slice(0, 8)}…: ${error.message}`)));
    const layout = await cluster.layout().then(
      (nodes) => nodes.map((node) => `${node.port} ${node.role}${node.failed ? ' failed' : ''} ${node.slots.map(([from, to]) => `${from}-${to}`).join(',')}`).join(' | '),
      (error: Error) => error.message,
    );
    return `${routes.join('\n')}\nCLUSTER NODES: ${layout}\n${lastLogLines()}`;
  };

  /** The count stored for `token`, read from the cluster (the state hash's field of CounterState, as JSON). */
  const stored = async (token: string): Promise<number | undefined> => {
    const raw = await data.hGet(stateKey(token), COUNTER);
    return raw ? (JSON.parse(raw) as { count?: number }).count : undefined;
  };
  /** `n` hydrated sockets, alternately on worker A and worker B. */
  const clients = async (n: number): Promise<RawSocket[]> =>
    Promise.all(Array.from({ length: n }, (_, i) => RawSocket.hydrated(workers[i % 2]!.url, sockets)));

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    data = createCluster({ rootNodes: cluster.rootNodes.map((url) => ({ url })) });
    data.on('error', () => undefined);
    await data.connect();
    const options = { redisCluster: { rootNodes: cluster.rootNodes } };
    workers = await Promise.all([0, 1].map((i) => startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [Clock, CounterState] }, undefined, logs[i])));
  }, 180_000);

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.allSettled(workers.map((worker) => worker.close()));
    data?.destroy();
    await cluster?.destroy();
  }, 60_000);

  it('shards states by token; events, the cross-worker lock and Socket.IO broadcasts work across two workers', async () => {
    for (const worker of workers) expect(worker.app.get(EventGateway).server!.adapter.constructor.name).toBe('ShardedRedisAdapter');
    const tabs = await clients(24);
    await Promise.all(
      tabs.map(async (tab) => {
        for (let i = 1; i <= 3; i++) {
          tab.send(INCREMENT);
          await tab.untilVar(COUNTER, 'count', i);
        }
      }),
    );
    // Every token's state is in Redis, in its token's slot, and the tokens spread over the masters.
    const masters = new Set<number>();
    for (const tab of tabs) {
      expect(await stored(tab.token)).toBe(3);
      const slot = await cluster.keyslot(stateKey(tab.token));
      expect(slot).toBe(await cluster.keyslot(`{${tab.token}}`));
      expect(await cluster.keyslot(`${stateKey(tab.token)}:lock`)).toBe(slot);
      masters.add(await cluster.masterOf(slot));
    }
    expect(masters.size).toBeGreaterThanOrEqual(2);

    // A change made on the other worker: its lock goes over (the holder keeps it between events and is asked for
    // it), and the delta reaches the socket through the sharded adapter; then the socket's own worker takes it back.
    const onA = tabs.filter((_, i) => i % 2 === 0).slice(0, 6);
    const states = workers[1]!.app.get(ReflexStateService);
    await Promise.all(
      onA.map(async (tab) => {
        await states.modify(tab.token, CounterState, (counter) => {
          counter.count += 10;
        });
        await tab.untilVar(COUNTER, 'count', 13);
        tab.send(INCREMENT);
        await tab.untilVar(COUNTER, 'count', 14);
        expect(await stored(tab.token)).toBe(14);
      }),
    );
    for (const tab of tabs) expect(tab.errors).toEqual([]);
  }, 120_000);

  it('shares rate-limit counters and cookie handoffs between the workers through the cluster', async () => {
    const [a, b] = workers.map((worker) => worker.app);
    const limits = [a!, b!].map((app) => app.get<RateLimitStorage>(RATE_LIMIT_STORAGE));
    const key = `counter.add@10.0.0.${Math.floor(Math.random() * 250)}`;
    expect((await limits[0]!.increment(key, 60_000, 10, 0, 'default')).totalHits).toBe(1);
    expect((await limits[1]!.increment(key, 60_000, 10, 0, 'default')).totalHits).toBe(2);
    expect((await limits[0]!.increment(key, 60_000, 10, 0, 'default')).totalHits).toBe(3);

    const token = 'cluster-handoff-token';
    const issued = await a!.get(CookieHandoffService).issue(['sid=abc; HttpOnly'], { sid: 'old' }, token);
    const proof = { secret: issued.secret, clientToken: token, cookies: { sid: 'old' } };
    expect(await b!.get(CookieHandoffService).redeem(issued.id, proof)).toEqual(['sid=abc; HttpOnly']);
    // Single use, whichever worker is asked.
    expect(await a!.get(CookieHandoffService).redeem(issued.id, proof)).toBeUndefined();

    // The event cache lists and deletes its keys on every master (SCAN per node) without failing.
    await expect(b!.get(EventCacheService).invalidateAll()).resolves.toBeUndefined();
  });

  it('survives SIGKILL of a master: structured errors while a replica takes over, then events on every token; no acknowledged update lost', async () => {
    const tabs = await clients(16);
    // The master serving most of these tokens is the one to kill.
    const byMaster = new Map<number, number>();
    for (const tab of tabs) {
      const port = await cluster.masterOf(await cluster.keyslot(stateKey(tab.token)));
      byMaster.set(port, (byMaster.get(port) ?? 0) + 1);
    }
    const victim = [...byMaster.entries()].sort((x, y) => y[1] - x[1])[0]![0];
    const clickers = tabs.map((tab) => new Clicker(tab));
    clickers.forEach((clicker) => clicker.start());
    try {
      await eventuallyAll(clickers, (clicker) => clicker.acks >= 3, 'three acknowledged events per client before the kill');
      await cluster.kill(victim);
      await cluster.untilFailedOver(victim);
      // The killed node comes back (as a process supervisor would start it) and rejoins as a replica.
      await cluster.restart(victim);
      const before = clickers.map((clicker) => clicker.acks);
      await eventuallyAll(clickers, (clicker, i) => clicker.acks >= before[i]! + 3, 'three more acknowledged events per client after the failover', 120_000, report);
    } finally {
      await Promise.all(clickers.map((clicker) => clicker.stop()));
    }
    // While the master was down: structured store errors, nothing else (and the process is still here).
    for (const clicker of clickers) {
      for (const code of clicker.codes) expect(STORE_FAILURES).toContain(code);
    }
    // No acknowledged update lost; nothing counted that no event could have done.
    for (const clicker of clickers) {
      const count = await stored(clicker.socket.token);
      expect(count).toBeGreaterThanOrEqual(clicker.acked);
      expect(count).toBeLessThanOrEqual(clicker.acked + clicker.uncertain);
    }
    // New clients on both workers still work.
    const late = await clients(2);
    for (const tab of late) {
      tab.send(INCREMENT);
      await tab.untilVar(COUNTER, 'count', 1);
    }
  }, 300_000);
});

/**
 * Waits until `check` holds for every clicker (polled), or fails naming `what`, the clickers' progress and what
 * `context` says of those for which it does not hold.
 */
async function eventuallyAll(
  clickers: Clicker[],
  check: (clicker: Clicker, index: number) => boolean,
  what: string,
  timeoutMs = 60_000,
  context?: (stuck: Clicker[]) => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!clickers.every(check)) {
    if (Date.now() > deadline) {
      const progress = JSON.stringify(clickers.map((clicker) => ({ acks: clicker.acks, codes: clicker.codes.slice(-3), last: clicker.lastMessage?.slice(0, 400) })));
      const stuck = clickers.filter((clicker, i) => !check(clicker, i));
      throw new Error(`timed out waiting for ${what}: ${progress}${context ? `\n${await context(stuck)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

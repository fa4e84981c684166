import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { until } from './support/eventually.js';
import { freePort } from './support/ports.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { buildShop, SHOP_MAIN } from './support/shop-workers.js';

const LIKES = 'reflex___state____state.likes_state';
const WORKERS = 2;

/** `WORKERS=2 node apps/shop/dist/main.js` in a process group of its own, its output kept. */
class ShopCluster {
  private log = '';
  private status: string | undefined;
  readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    const onData = (chunk: Buffer) => (this.log += chunk.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.status = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      }),
    );
  }

  static async start(env: Record<string, string>): Promise<ShopCluster> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', WORKERS: String(WORKERS), PORT: String(await freePort()), ...env };
    delete childEnv.DATABASE_URL;
    // Detached: the primary leads a process group of its own, which the test can signal as a whole (as systemd's
    // default KillMode and `docker stop` with an init process do).
    const cluster = new ShopCluster(spawn(process.execPath, [SHOP_MAIN], { env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    await until(() => cluster.listening() >= WORKERS || cluster.status !== undefined || undefined, `${WORKERS} workers listening`, 120_000);
    if (cluster.status !== undefined) throw new Error(`the cluster exited (${cluster.status}) before listening:\n${cluster.log}`);
    return cluster;
  }

  get url(): string {
    return `http://127.0.0.1:${/Shop listening on http:\/\/localhost:(\d+)/.exec(this.log)![1]}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** How the primary ended (`code 0`, `signal SIGTERM`), undefined while it runs. */
  exitStatus(): string | undefined {
    return this.status;
  }

  output(): string {
    return this.log;
  }

  /** How many times a worker said it listens (a worker forked again says so too). */
  listening(): number {
    return this.log.split('Shop listening on').length - 1;
  }

  /** The worker processes that said a stop reached them. */
  stoppingWorkers(): Set<number> {
    return new Set([...this.log.matchAll(/Shop process (\d+) stopping/g)].map((match) => Number(match[1])));
  }

  /** True while any process of the cluster's group is left. */
  anyProcessLeft(): boolean {
    try {
      process.kill(-this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  kill(): void {
    if (this.anyProcessLeft()) process.kill(-this.pid, 'SIGKILL');
  }
}

describeWithRedis('the built shop in WORKERS=2 mode stopped by SIGTERM while an event of a tab is running', () => {
  const directory = mkdtempSync(join(tmpdir(), 'shop-cluster-sigterm-'));
  let redis: RedisTestServer | undefined;
  let cluster: ShopCluster | undefined;
  beforeAll(async () => {
    await buildShop();
    redis = await RedisTestServer.launch();
  }, 300_000);
  afterEach(() => {
    redis?.resume();
    cluster?.kill();
  });
  afterAll(async () => {
    await redis?.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  /**
   * Starts the cluster, holds an event of a tab (Redis frozen: the event waits for its state's lock), sends SIGTERM to
   * `target`, lets Redis go once both workers said the stop reached them (or the primary is gone), and reports what
   * the tab and the process manager saw.
   */
  async function stopWithAnEventRunning(target: 'the primary' | 'the process group', run: string) {
    cluster = await ShopCluster.start({ REDIS_URL: redis!.url, SQLITE_PATH: join(directory, `${run}.sqlite`), UPLOAD_DIR: join(directory, `uploads-${run}`) });
    const tab = await RawSocket.hydrated(cluster.url);
    let disconnect: string | undefined;
    tab.socket.on('disconnect', (reason) => (disconnect = reason));
    try {
      redis!.pause();
      tab.send(`${LIKES}.like`);
      // The worker has read the event (it answers `ping` after every frame before it): the event is running.
      await tab.ping();
      process.kill(target === 'the primary' ? cluster.pid : -cluster.pid, 'SIGTERM');
      // Both workers began their drain (each says so from its signal handler, in the same turn as Nest's), with the
      // event still held; or, as before, the primary died of the signal.
      await until(() => cluster!.stoppingWorkers().size === WORKERS || cluster!.exitStatus() !== undefined || undefined, 'the workers to begin stopping', 60_000);
      redis!.resume();
      await tab.until(() => tab.latest(LIKES, 'count') === 1 || disconnect !== undefined, 30_000, "the held event's delta or a disconnect");
      await cluster.exited;
      const admin = createClient({ url: redis!.url });
      await admin.connect();
      let locksLeft: string[];
      try {
        locksLeft = await admin.keys('*:lock');
      } finally {
        await admin.quit();
      }
      return {
        exit: cluster.exitStatus(),
        heldEventAnswered: tab.latest(LIKES, 'count') === 1,
        tabErrors: tab.errors,
        workersThatStopped: cluster.stoppingWorkers().size,
        // No worker forked again while the cluster stopped, and none is left behind.
        listened: cluster.listening(),
        reforks: cluster.output().split('\n').filter((line) => line.includes('starting another')),
        processesLeft: cluster.anyProcessLeft(),
        // The Redis store's notice of a lock held long (the event waited for a frozen Redis on a loaded machine) is
        // not a failure of the stop.
        // Every state lock was given back: none is left to hold the tab's next event on another worker.
        locksLeft,
        warnings: cluster.output().split('\n').filter((line) => /ERROR|Error|WARN/.test(line) && !line.includes('warning threshold')),
      };
    } finally {
      redis!.resume();
      tab.close();
    }
  }

  const clean = { exit: 'code 0', heldEventAnswered: true, tabErrors: [], workersThatStopped: WORKERS, listened: WORKERS, reforks: [], processesLeft: false, locksLeft: [], warnings: [] };

  it('SIGTERM to the primary: the workers finish and answer the running event, none is forked again, exit 0', async () => {
    // Before: the primary died of the signal (status 143) and its workers exited at once with it, the held event
    // never answered (the tab saw its connection close).
    expect(await stopWithAnEventRunning('the primary', 'primary')).toEqual(clean);
  }, 300_000);

  it('SIGTERM to the whole process group (systemd, docker stop): the same, though each worker gets it twice', async () => {
    // Before: the workers began their drain, then exited mid-event as the primary died of the signal.
    expect(await stopWithAnEventRunning('the process group', 'group')).toEqual(clean);
  }, 300_000);
});

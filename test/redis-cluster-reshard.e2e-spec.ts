/**
 * An event on a token whose slot is being moved to another master (`redis-cli --cluster reshard`: the slot is
 * MIGRATING on its master and IMPORTING on the other while its keys move, then given to the other) on a REAL Redis
 * Cluster (test/support/redis-cluster.ts). The state store's scripts name several keys of the token (all in the
 * token's slot); while they are split between the two masters, Redis refuses such a script with `TRYAGAIN` before
 * running it, and the client is expected to try again a moment later. The migration is made here step by step, as
 * redis-cli makes it, and held half-done until the event's script has been refused at least once. Then a real
 * `redis-cli --cluster reshard` moves every slot of a master while its tokens' tabs keep clicking: no event fails, and
 * every acknowledged count is the one stored on the new master (each slot's window is milliseconds, so that run
 * rarely meets a refused script; the first test makes sure of it).
 *
 * Needs redis-server and redis-cli (`apt-get install -y redis-server`). Without them the spec is skipped, except
 * under CI=true, where it fails.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { eventually } from './support/eventually.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedisCluster, RedisTestCluster } from './support/redis-cluster.js';

const COUNTER = 'reflex___state____state.counter_state';
const INCREMENT = `${COUNTER}.increment`;
const stateKey = (token: string) => `rx:state:v2:{${token}}`;
const run = promisify(execFile);

describeWithRedisCluster('an event while its token’s slot migrates to another master', () => {
  let cluster: RedisTestCluster;
  let worker: RunningApp;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    cluster = await RedisTestCluster.launch();
    worker = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisCluster: { rootNodes: cluster.rootNodes, waitReplicas: 0 } })], providers: [Clock, CounterState] });
  }, 180_000);

  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await worker?.close();
    await cluster?.destroy();
  }, 60_000);

  it('is tried again until the slot moved, and saved on the new master (not refused with state_unavailable)', async () => {
    const tab = await RawSocket.hydrated(worker.url, sockets);
    tab.send(INCREMENT);
    await tab.untilVar(COUNTER, 'count', 1);

    const slot = await cluster.keyslot(stateKey(tab.token));
    const layout = await cluster.layout();
    const sourcePort = await cluster.masterOf(slot);
    const source = layout.find((node) => node.port === sourcePort)!;
    const target = layout.find((node) => node.role === 'master' && !node.failed && node.port !== sourcePort)!;
    // Direct connections: each step of the migration takes a millisecond, not a redis-cli process.
    const [from, to] = await Promise.all(
      [source, target].map(async (node) => {
        const client = createClient({ url: `redis://127.0.0.1:${node.port}` });
        client.on('error', () => undefined);
        await client.connect();
        return client;
      }),
    );
    // Refused by the source, or by the target after the source's ASK, depending on which of the keys moved.
    const tryAgains = async () => {
      let count = 0;
      for (const client of [from, to]) count += Number(/errorstat_TRYAGAIN:count=(\d+)/.exec(await client.info('errorstats'))?.[1] ?? 0);
      return count;
    };
    try {
      // redis-cli's steps: IMPORTING on the target, MIGRATING on the source, then the keys, a few at a time. Here the
      // token's state hash moves first, and the rest waits: the token's keys are split between the two masters.
      await to.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id]);
      await from.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id]);
      await from.sendCommand(['MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', stateKey(tab.token)]);
      const refusedBefore = await tryAgains();
      const updates = tab.updates.length;
      tab.send(INCREMENT);
      await eventually('the event refused with TRYAGAIN', tryAgains, (count) => count > refusedBefore);

      // The rest of the slot's keys, then the slot is the target's (on both, then on the others: redis-cli's order).
      const rest = (await from.sendCommand(['CLUSTER', 'GETKEYSINSLOT', String(slot), '1000'])) as string[];
      if (rest.length > 0) await from.sendCommand(['MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...rest]);
      await to.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id]);
      await from.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id]);

      // Before: the event answered state_unavailable at once ("TRYAGAIN Multiple keys request during rehashing").
      await tab.until(() => tab.updates.length > updates || tab.errors.length > 0, 30_000, 'an answer to the increment');
      expect(tab.errors).toEqual([]);
      await tab.untilVar(COUNTER, 'count', 2);
      expect(JSON.parse((await to.hGet(stateKey(tab.token), COUNTER))!).count).toBe(2);
      // And the next one goes to the new master directly.
      tab.send(INCREMENT);
      await tab.untilVar(COUNTER, 'count', 3);
      expect(tab.errors).toEqual([]);
    } finally {
      await Promise.allSettled([from.close(), to.close()]);
    }
  }, 120_000);

  it('keeps events working, none lost, while redis-cli moves every slot of a master to another', async () => {
    const tabs = await Promise.all(Array.from({ length: 12 }, () => RawSocket.hydrated(worker.url, sockets)));
    const masters = await Promise.all(tabs.map(async (tab) => cluster.masterOf(await cluster.keyslot(stateKey(tab.token)))));
    const layout = await cluster.layout();
    const sourcePort = masters[0]!;
    const moving = tabs.filter((_, i) => masters[i] === sourcePort);
    const source = layout.find((node) => node.port === sourcePort)!;
    const target = layout.find((node) => node.role === 'master' && !node.failed && node.port !== sourcePort)!;
    const slots = source.slots.reduce((sum, [first, last]) => sum + last - first + 1, 0);
    // Each tab sends its next increment once the last one was answered, until the reshard is over.
    let resharding = true;
    const clicking = moving.map(async (tab) => {
      for (let count = 1; resharding; count++) {
        tab.send(INCREMENT);
        await tab.until(() => tab.errors.length > 0 || tab.latest(COUNTER, 'count') === count, 30_000, `count ${count}`);
        if (tab.errors.length > 0) return;
        // About 30 events a second: a steady user, well inside the connection's budget (500 per 10 s).
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    });
    try {
      await run(cluster.cliBinary, ['--cluster', 'reshard', `127.0.0.1:${sourcePort}`, '--cluster-from', source.id, '--cluster-to', target.id, '--cluster-slots', String(slots), '--cluster-yes'], {
        timeout: 150_000,
        maxBuffer: 64 * 1024 * 1024,
      });
    } finally {
      resharding = false;
      await Promise.all(clicking);
    }
    expect(await cluster.masterOf(await cluster.keyslot(stateKey(moving[0]!.token)))).toBe(target.port);
    for (const tab of moving) {
      expect(tab.errors).toEqual([]);
      // Every acknowledged count is the one stored, on the new master.
      const data = createClient({ url: `redis://127.0.0.1:${target.port}` });
      await data.connect();
      try {
        expect(JSON.parse((await data.hGet(stateKey(tab.token), COUNTER))!).count).toBe(tab.latest(COUNTER, 'count'));
      } finally {
        await data.close();
      }
    }
  }, 180_000);
});

import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { createClient } from 'redis';
import { describeStateStoreContract } from '@reflex-bridge/nest/testing';
import { RedisStateStore, type RedisStateStoreOptions } from '../libs/reflex-bridge/src/state/store/redis-state.store.js';
import { StateStoreError } from '../libs/reflex-bridge/src/state/store/state-store.error.js';
import { LockLostError, type StateLease } from '../libs/reflex-bridge/src/state/store/state-store.js';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const newToken = () => `tok-${Math.random().toString(36).slice(2)}`;
/** The store's keys of a token (default prefix, layout v2): the state hash and the lock. */
const stateKey = (token: string) => `rx:state:v2:{${token}}`;
const lockKey = (token: string) => `rx:state:v2:{${token}}:lock`;

/** Resolves once `predicate` holds (polled), or fails after a generous deadline. */
async function until(predicate: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A logger that records what the store says. */
function recordingLogger(): LoggerService & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    log: () => undefined,
    error: () => undefined,
    warn: (message: unknown) => void warnings.push(String(message)),
  };
}

/** What `promise` gives within `ms`, or 'still waiting' (the timer is cleared, so it never keeps Jest alive). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejection of `promise`, with the time it took. Fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

describeWithRedis('RedisStateStore against a real redis-server', () => {
  let server: RedisTestServer;
  let raw: ReturnType<typeof createClient>;
  const stores: RedisStateStore[] = [];
  /** A store that is closed after the test; "workers" are separate instances (own connections, own lock ids). */
  const worker = (options: Partial<RedisStateStoreOptions> = {}) => {
    const store = new RedisStateStore({ url: server.url, logger: recordingLogger(), ...options });
    stores.push(store);
    return store;
  };
  /** Connections created by a test, closed after its stores. */
  const connectionsToClose: RedisConnections[] = [];
  /** A worker's shared connections, as the module creates them with `redisUrl`. */
  const sharedConnections = async () => {
    const connections = await RedisConnections.create({ url: server.url, maxReconnectDelayMs: 200 });
    connectionsToClose.push(connections);
    return connections;
  };

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    raw = createClient({ url: server.url });
    raw.on('error', () => undefined);
    await raw.connect();
  }, 30_000);

  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    await Promise.allSettled(connectionsToClose.splice(0).map((connections) => connections.close()));
    // A test that stopped Redis must not leave it down for the next one.
    if (!server.running) await server.start();
  });

  afterAll(async () => {
    if (raw?.isOpen) raw.destroy();
    await server?.destroy();
  });

  describeStateStoreContract('RedisStateStore', ({ ttlSeconds }) => new RedisStateStore({ url: server.url, ttlSeconds }));
  describeStateStoreContract('RedisStateStore on shared RedisConnections', async ({ ttlSeconds }) => new RedisStateStore({ connections: await sharedConnections(), ttlSeconds }));

  it('two stores on one shared RedisConnections: exclusive, woken by the shared subscriber, and closing one leaves the other working', async () => {
    const connections = await sharedConnections();
    // Polling every minute: only a release notification on the shared subscriber can hand the lock over in time.
    const [a, b] = [0, 1].map(() => worker({ url: undefined, connections, pollIntervalMs: 60_000, lockTimeoutMs: 60_000 }));
    const t = newToken();
    const held = await a.acquire(t);
    const waiting = b.acquire(t);
    expect(await within(waiting, 300)).toBe('still waiting');
    await held.save({ s: { by: 'a' } });
    await held.release();
    const next = await waiting;
    expect(next.state).toEqual({ s: { by: 'a' } });

    // b waits on a's lock too, then a is closed: a releases what it holds, and b (same connections) gets it.
    const t2 = newToken();
    const heldByA = await a.acquire(t2);
    const waitingB = b.acquire(t2);
    expect(await within(waitingB, 300)).toBe('still waiting');
    await a.close();
    expect(heldByA).toBeDefined();
    await (await waitingB).release();
    await next.release();
    // a's close() left the shared connections open for b.
    expect(connections.commands.isReady).toBe(true);
    expect(await b.read(t)).toEqual({ s: { by: 'a' } });
  }, 30_000);

  it('stores each state as JSON in a hash field with the idle TTL, and the lock with its own expiry while held', async () => {
    const store = worker({ ttlSeconds: 120, lockTimeoutMs: 5000 });
    await store.connect();
    const t = newToken();
    const lease = await store.acquire(t);
    await lease.save({ 'root.counter': { count: 2, tags: ['x'] } });

    expect(JSON.parse((await raw.hGet(stateKey(t), 'root.counter')) ?? 'null')).toEqual({ count: 2, tags: ['x'] });
    const statePttl = await raw.pTTL(stateKey(t));
    expect(statePttl).toBeGreaterThan(100_000);
    expect(statePttl).toBeLessThanOrEqual(120_000);
    const lockPttl = await raw.pTTL(lockKey(t));
    expect(lockPttl).toBeGreaterThan(0);
    expect(lockPttl).toBeLessThanOrEqual(5000);

    await lease.release();
    // Kept for lockLingerMs (50 ms by default) in case the token's next event comes soon, then given back.
    const deadline = Date.now() + 10_000;
    while ((await raw.exists(lockKey(t))) !== 0) {
      if (Date.now() > deadline) throw new Error('the lock was never given back');
      await sleep(20);
    }
  });

  it('writes only the states a save changed, and the whole state again when it was deleted meanwhile', async () => {
    const store = worker({ lockLingerMs: 0 });
    await store.connect();
    const t = newToken();
    const first = await store.acquire(t);
    const untouched = { n: 1 };
    await first.save({ a: { n: 1 }, b: untouched });
    // Written behind the store's back: a save that rewrote every state would overwrite it.
    await raw.hSet(stateKey(t), 'b', JSON.stringify({ n: 99 }));
    await first.save({ a: { n: 2 }, b: untouched });
    expect(await store.read(t)).toEqual({ a: { n: 2 }, b: { n: 99 } });
    // States removed from the tree are removed from the hash (three at once here).
    await first.save({ a: { n: 2 }, b: untouched, x: { n: 1 }, y: { n: 2 } });
    await first.save({ a: { n: 3 } });
    expect(await store.read(t)).toEqual({ a: { n: 3 } });
    // Deleted under the holder: its next save writes everything it has, not just the change.
    await store.delete(t);
    const kept = { n: 5 };
    await first.save({ a: { n: 4 }, c: kept });
    expect(await store.read(t)).toEqual({ a: { n: 4 }, c: { n: 5 } });
    await first.release();
  });

  it('lands saves after Redis forgot its scripts, and saves of several tokens sent in one tick', async () => {
    const store = worker();
    await store.connect();
    const tokens = [newToken(), newToken(), newToken()];
    const leases = await Promise.all(tokens.map((t) => store.acquire(t)));
    // The server forgets the save script (as after a restart): the store sends its source instead.
    await raw.sendCommand(['SCRIPT', 'FLUSH']);
    await leases[0]!.save({ s: { n: 0 } });
    // The others in one tick (node-redis writes them together).
    await Promise.all(leases.slice(1).map((lease, i) => lease.save({ s: { n: i + 1 } })));
    await Promise.all(leases.map((lease) => lease.release()));
    expect(await Promise.all(tokens.map((t) => store.read(t)))).toEqual([{ s: { n: 0 } }, { s: { n: 1 } }, { s: { n: 2 } }]);
  });

  it('saves of tokens that come while one is in flight go in one script call, each fenced and answered on its own', async () => {
    const store = worker();
    await store.connect();
    const tokens = Array.from({ length: 6 }, () => newToken());
    const leases = await Promise.all(tokens.map((t) => store.acquire(t)));
    // Every token has a stored state (and Redis knows the save script) before the calls are counted.
    // `keep` is the same object in both saves: unchanged, so the second save does not write it.
    const kept = tokens.map((_, i) => ({ k: i }));
    for (const [i, lease] of leases.entries()) await lease.save({ s: { n: i }, keep: kept[i]! });
    // Token 3's lock went to someone else meanwhile; token 4's state was deleted behind its holder's back.
    await raw.set(lockKey(tokens[3]!), 'another-worker:1');
    await raw.del(stateKey(tokens[4]!));
    await raw.sendCommand(['CONFIG', 'RESETSTAT']);

    const saved = leases.map((lease, i) => Promise.resolve(lease.save({ s: { n: 10 + i }, keep: kept[i]! })).then(() => 'saved', (error: unknown) => error));
    const outcomes = await Promise.all(saved);

    expect(outcomes.map((outcome) => (outcome instanceof LockLostError ? 'lock lost' : outcome))).toEqual(['saved', 'saved', 'saved', 'lock lost', 'saved', 'saved']);
    const stats = String(await raw.sendCommand(['INFO', 'commandstats']));
    // The first save alone, the five that waited for it together, then token 4's whole state again.
    expect(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1]).toBe('3');
    const states = await Promise.all(tokens.map((t) => store.read(t)));
    expect(states).toEqual([
      { s: { n: 10 }, keep: { k: 0 } },
      { s: { n: 11 }, keep: { k: 1 } },
      { s: { n: 12 }, keep: { k: 2 } },
      { s: { n: 3 }, keep: { k: 3 } },
      { s: { n: 14 }, keep: { k: 4 } },
      { s: { n: 15 }, keep: { k: 5 } },
    ]);
    await raw.del(lockKey(tokens[3]!));
    await Promise.all(leases.map((lease) => lease.release()));
  });

  it('refuses a state it cannot write as JSON with a StateStoreError, sends nothing, and saves the next one', async () => {
    const store = worker();
    await store.connect();
    const t = newToken();
    const lease = await store.acquire(t);
    await lease.save({ s: { n: 1 } });
    const { error } = await rejectionOf(Promise.resolve().then(() => lease.save({ s: { n: 2n } })));
    expect(error).toBeInstanceOf(StateStoreError);
    expect((error as Error).message).toMatch(/could not save a state.*BigInt/);
    expect(await store.read(t)).toEqual({ s: { n: 1 } });
    await lease.save({ s: { n: 3 } });
    await lease.release();
    expect(await store.read(t)).toEqual({ s: { n: 3 } });
  });

  it('gives a kept lock back by itself once lockLingerMs passed after its last release', async () => {
    const store = worker({ lockLingerMs: 100 });
    await store.connect();
    const t = newToken();
    // A few events in a row: each takes the kept lock when it is still there, or the lock afresh.
    for (let n = 1; n <= 5; n++) {
      const lease = store.tryAcquireSync(t) ?? (await store.acquire(t));
      await lease.save({ s: { n } });
      await lease.release();
    }
    await until(async () => (await raw.exists(lockKey(t))) === 0, 'the kept lock to be given back');
    expect(store.tryAcquireSync(t)).toBeUndefined();
    expect(await store.read(t)).toEqual({ s: { n: 5 } });
  });

  it('keeps a released lock for the next event of this worker, and gives it at once to a worker that asks', async () => {
    // Linger, lock and polls of a minute: only the owner-channel request can hand the lock over in time.
    const slow = { lockLingerMs: 60_000, lockTimeoutMs: 60_000, pollIntervalMs: 60_000, acquireTimeoutMs: 120_000 };
    const a = worker(slow);
    const b = worker(slow);
    await Promise.all([a.connect(), b.connect()]);
    const t = newToken();
    const lease = await a.acquire(t);
    await lease.save({ s: { n: 1 } });
    await lease.release();
    expect(await raw.exists(lockKey(t))).toBe(1);
    // The same worker takes it back without waiting, with the state it saved.
    const again = a.tryAcquireSync(t);
    expect(again?.state).toEqual({ s: { n: 1 } });
    expect(again?.stateSize).toBeUndefined();
    await again!.save({ s: { n: 2 } }, { stateSize: 15 });
    await again!.release();
    // The size a save came with comes back with the kept lock's state, for the token's next event here.
    const sized = a.tryAcquireSync(t);
    expect(sized?.stateSize).toBe(15);
    await sized!.release();
    // Another worker asks, and gets it (with the latest state) long before the linger or the lock would end; the
    // size stays with the worker that measured it: what b reads from Redis comes without one.
    const other = await within(b.acquire(t), 20_000);
    expect(other).not.toBe('still waiting');
    expect((other as StateLease).state).toEqual({ s: { n: 2 } });
    expect((other as StateLease).stateSize).toBeUndefined();
    await (other as StateLease).save({ s: { n: 3 } });
    await (other as StateLease).release();
    // a's kept lock is gone: its next lease reads the state b wrote.
    expect(a.tryAcquireSync(t)).toBeUndefined();
    const fromA = await within(a.acquire(t), 20_000);
    expect(fromA).not.toBe('still waiting');
    expect((fromA as StateLease).state).toEqual({ s: { n: 3 } });
    await (fromA as StateLease).release();
  }, 60_000);

  it('a worker whose lock-request subscription Redis refused at start (an ACL without the channel) asks again, and then hands its kept locks over at once', async () => {
    // A user allowed every key and command and the tokens' release channels, but not the owner channels.
    await raw.sendCommand(['ACL', 'SETUSER', 'no-owner', 'on', 'nopass', '~*', '+@all', 'resetchannels', '&rx:state:v2:{*']);
    const lines: { level: string; message: string }[] = [];
    const logger: LoggerService = {
      log: (message: unknown) => void lines.push({ level: 'log', message: String(message) }),
      warn: (message: unknown) => void lines.push({ level: 'warn', message: String(message) }),
      error: (message: unknown) => void lines.push({ level: 'error', message: String(message) }),
      debug: (message: unknown) => void lines.push({ level: 'debug', message: String(message) }),
    };
    try {
      // Linger, lock and polls of a minute on a: only the owner-channel request can hand its kept lock over in time.
      const a = worker({ url: server.url.replace('redis://', 'redis://no-owner:any@'), logger, lockLingerMs: 60_000, lockTimeoutMs: 120_000, pollIntervalMs: 60_000 });
      // b asks again often (each attempt sends the request to a), and would wait for a's lock up to two minutes.
      const b = worker({ pollIntervalMs: 100, lockTimeoutMs: 120_000, acquireTimeoutMs: 120_000 });
      await Promise.all([a.connect(), b.connect()]);
      const t = newToken();
      const lease = await a.acquire(t);
      await lease.save({ s: { n: 1 } });
      await lease.release();
      // Redis notes each refusal in its ACL log (an entry is a list of names and values over RESP2, an object over RESP3).
      const refusedChannel = async () =>
        ((await raw.sendCommand(['ACL', 'LOG'])) as (unknown[] | Record<string, unknown>)[]).some((entry) => {
          const fields = Array.isArray(entry) ? entry : Object.values(entry);
          return fields.includes('no-owner') && fields.includes('channel');
        });
      await until(refusedChannel, "Redis's refusal of a's subscription");
      // A tab of this token on worker b clicks: before, b waited until a gave its kept lock back by itself (here a
      // minute; by default up to a second per event while the tab's events kept coming on a), as Redis refused a's
      // subscription once and it was never made again, even after the operator allowed the channel.
      const bTurn = b.acquire(t);
      await raw.sendCommand(['ACL', 'SETUSER', 'no-owner', '&rx:state:v2:owner:*']);
      const other = await within(bTurn, 30_000);
      expect(other).not.toBe('still waiting');
      expect((other as StateLease).state).toEqual({ s: { n: 1 } });
      await (other as StateLease).release();
      // A slowness notice ("held for N ms") depends on the machine's load, not on this.
      expect(lines.filter((line) => (line.level === 'warn' || line.level === 'error') && !line.message.includes('warning threshold'))).toHaveLength(1);
      expect(lines.find((line) => line.level === 'warn')!.message).toMatch(/NOPERM.*allow the channel \(&rx:state:v2:owner:\*\)/);
      expect(lines.some((line) => line.level === 'log' && line.message.startsWith("Subscribed to RedisStateStore's lock requests"))).toBe(true);
    } finally {
      await Promise.allSettled(stores.splice(0).map((store) => store.close()));
      await raw.sendCommand(['ACL', 'DELUSER', 'no-owner']).catch(() => undefined);
      await raw.sendCommand(['ACL', 'LOG', 'RESET']).catch(() => undefined);
    }
  }, 90_000);

  it('does not keep a lock it took while another worker was still waiting in line behind it', async () => {
    // Linger, lock and polls of a minute: a kept lock would stay in Redis for the whole test.
    const slow = { lockLingerMs: 60_000, lockTimeoutMs: 120_000, pollIntervalMs: 60_000, acquireTimeoutMs: 120_000 };
    const a = worker(slow);
    const b = worker(slow);
    await Promise.all([a.connect(), b.connect()]);
    const t = newToken();
    const waitersKey = `rx:state:v2:{${t}}:waiters`;
    const held = await a.acquire(t);
    const bTurn = b.acquire(t);
    await until(async () => (await raw.zCard(waitersKey)) === 1, "b's registration");
    // A third process queues behind b. Told "not your turn" while the lock is free, such a caller announces itself
    // to nobody: b must learn from its own acquire that someone waits, or it would keep the lock for the linger.
    await raw.zAdd(waitersKey, { score: Date.now() + 60_000, value: 'other-process:w1' });
    await raw.zAdd(`${waitersKey}:lapse`, { score: Date.now() + 120_000, value: 'other-process:w1' });
    await held.release();
    const lease = await bTurn;
    await lease.save({ s: { n: 1 } });
    await lease.release();
    await until(async () => (await raw.exists(lockKey(t))) === 0, "b's lock to be given back to the caller in line");
    expect(b.tryAcquireSync(t)).toBeUndefined();
    await raw.del([waitersKey, `${waitersKey}:lapse`]);
  }, 60_000);

  it('a state deleted by another worker is read afresh by the worker that kept its lock', async () => {
    const a = worker({ lockLingerMs: 60_000, lockTimeoutMs: 60_000 });
    const b = worker();
    await Promise.all([a.connect(), b.connect()]);
    const t = newToken();
    const lease = await a.acquire(t);
    await lease.save({ s: { n: 1 } });
    await lease.release();
    await b.delete(t);
    // The deletion reaches a through Redis: poll until its kept lock is gone, then its next lease sees no state.
    const deadline = Date.now() + 10_000;
    while ((await raw.exists(lockKey(t))) !== 0) {
      if (Date.now() > deadline) throw new Error('the kept lock was never given back');
      await sleep(20);
    }
    const next = await a.acquire(t);
    expect(next.state).toBeNull();
    await next.release();
  }, 30_000);

  it('ignores states of the earlier layout (one JSON string per token)', async () => {
    const store = worker();
    const t = newToken();
    await raw.set(`rx:state:{${t}}`, JSON.stringify({ s: { n: 1 } }));
    expect(await store.read(t)).toBeNull();
    const lease = await store.acquire(t);
    expect(lease.state).toBeNull();
    await lease.release();
  });

  it('two workers racing for one token run one after the other: 2 × 50 increments end at 100', async () => {
    const workers = [worker(), worker()];
    const t = newToken();
    let inside = 0;
    let maxInside = 0;
    const grants: number[] = [];
    await Promise.all(
      workers.map(async (store, w) => {
        for (let i = 0; i < 50; i++) {
          const lease = await store.acquire(t);
          try {
            inside++;
            maxInside = Math.max(maxInside, inside);
            grants.push(w);
            const n = (lease.state?.s?.n as number | undefined) ?? 0;
            await sleep(Math.random() * 2); // let the other worker's attempt land in the middle
            await lease.save({ s: { n: n + 1 } });
            inside--;
          } finally {
            await lease.release();
          }
        }
      }),
    );
    expect(maxInside).toBe(1);
    expect(grants).toHaveLength(100);
    expect(await workers[0].read(t)).toEqual({ s: { n: 100 } });
    expect(await workers[1].read(t)).toEqual({ s: { n: 100 } });
    // Neither worker is starved until the other has finished: they take turns.
    expect(new Set(grants.slice(0, 10))).toEqual(new Set([0, 1]));
    expect(new Set(grants.slice(40, 60))).toEqual(new Set([0, 1]));
  }, 30_000);

  it('three workers with several callers each stay exclusive and lose no increment', async () => {
    const workers = [worker(), worker(), worker()];
    const t = newToken();
    let inside = 0;
    let maxInside = 0;
    const perWorker = [0, 0, 0];
    await Promise.all(
      workers.flatMap((store, w) =>
        [0, 1, 2].map(async () => {
          for (let i = 0; i < 10; i++) {
            const lease = await store.acquire(t);
            try {
              inside++;
              maxInside = Math.max(maxInside, inside);
              const n = (lease.state?.s?.n as number | undefined) ?? 0;
              await lease.save({ s: { n: n + 1 } });
              perWorker[w]++;
              inside--;
            } finally {
              await lease.release();
            }
          }
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(perWorker).toEqual([30, 30, 30]);
    expect(await workers[2].read(t)).toEqual({ s: { n: 90 } });
  }, 30_000);

  it('refuses the save of a holder whose lock expired, keeps the newer state, and hands the lock over on expiry', async () => {
    const loggerA = recordingLogger();
    // Only A's lock is short: every step of the test that must happen while a lock holds is done under B's lock,
    // which outlasts any stall of a loaded machine (with a 300 ms lock, B's saves failed when the process stalled).
    // A's acquireTimeoutMs would default to 3 × 300 ms, which its first acquire (connecting) can take on a loaded machine.
    const a = worker({ lockTimeoutMs: 300, acquireTimeoutMs: 60_000, logger: loggerA });
    // B never polls within the test: it can only get the lock by waking at the expiry, as the acquire script tells it to.
    const b = worker({ lockTimeoutMs: 30_000, pollIntervalMs: 600_000, acquireTimeoutMs: 600_000 });
    const t = newToken();
    // The token's state, saved (and its lock given back at once) before A takes the lock.
    const seeded = await worker({ lockLingerMs: 0 }).acquire(t);
    await seeded.save({ s: { n: 1 } });
    await seeded.release();

    const stale = await a.acquire(t);
    expect(stale.state).toEqual({ s: { n: 1 } });
    // Worker A stalls (or died) without releasing: B gets the lock when it expires.
    const fresh = await b.acquire(t);
    expect(fresh.state).toEqual({ s: { n: 1 } });
    await fresh.save({ s: { n: 2 } });

    await expect(stale.save({ s: { n: 99 } })).rejects.toBeInstanceOf(LockLostError);
    // The stale release must not delete B's lock.
    await stale.release();
    expect(loggerA.warnings.join('\n')).toMatch(/expired before it was released/);
    await fresh.save({ s: { n: 3 } });
    await fresh.release();
    expect(await a.read(t)).toEqual({ s: { n: 3 } });
  });

  it('renew() keeps a lock past lockTimeoutMs while its holder renews it, and never takes back an expired one', async () => {
    // A lock long enough that a busy CI machine's event-loop stalls between two renewals cannot outlast it.
    const a = worker({ lockTimeoutMs: 2000 });
    const b = worker({ lockTimeoutMs: 2000, acquireTimeoutMs: 60_000 });
    const t = newToken();
    const holder = await a.acquire(t);
    expect(holder.lockTimeoutMs).toBe(2000);
    const value = await raw.get(lockKey(t));
    let waiterGotIt = false;
    const waiting = b.acquire(t).then((lease) => {
      waiterGotIt = true;
      return lease;
    });
    // Renew every 150 ms until three lifetimes of the lock have passed: it keeps the holder's value all along.
    const lifetimesLater = Date.now() + 3 * 2000;
    while (Date.now() < lifetimesLater) {
      await holder.renew!();
      expect(await raw.get(lockKey(t))).toBe(value);
      expect(waiterGotIt).toBe(false);
      await sleep(150);
    }
    await holder.save({ s: { n: 1 } });
    await holder.release();
    const next = await waiting;
    expect(next.state).toEqual({ s: { n: 1 } });
    // The new holder stops renewing: once its lock expired, renewing is refused and does not bring it back.
    await until(async () => (await raw.exists(lockKey(t))) === 0, 'the unrenewed lock to expire');
    await expect(next.renew!()).rejects.toBeInstanceOf(LockLostError);
    expect(await raw.exists(lockKey(t))).toBe(0);
    await next.release();
  });

  it('wakes a waiter on another worker as soon as the lock is released, long before any poll or expiry', async () => {
    // With these settings a waiter that relied on polling or on the expiry would wait 30 s.
    const slow = { lockTimeoutMs: 30_000, pollIntervalMs: 30_000, acquireTimeoutMs: 60_000 };
    const a = worker(slow);
    const b = worker(slow);
    const t = newToken();
    const held = await a.acquire(t);
    await held.save({ s: { n: 1 } });

    const events: string[] = [];
    const waiting = b.acquire(t).then((lease) => {
      events.push('b acquired');
      return lease;
    });
    // B waits in line in Redis (it registers after subscribing to the release), not merely a moment after asking.
    await until(async () => (await raw.zCard(`rx:state:v2:{${t}}:waiters`)) === 1, "b's registration");
    expect(events).toEqual([]);

    events.push('a released');
    const releasedAt = Date.now();
    await held.release();
    const next = await waiting;
    const wokenAfter = Date.now() - releasedAt;
    expect(events).toEqual(['a released', 'b acquired']);
    expect(next.state).toEqual({ s: { n: 1 } });
    // Far within the poll or expiry it would otherwise have waited for, however loaded the machine.
    expect(wokenAfter).toBeLessThan(slow.pollIntervalMs / 2);
    await next.release();
  }, 40_000);

  it('falls back to polling when a release notification is lost', async () => {
    const a = worker({ lockTimeoutMs: 30_000 });
    const b = worker({ lockTimeoutMs: 30_000, pollIntervalMs: 200 });
    const t = newToken();
    const held = await a.acquire(t);
    const waiting = b.acquire(t);
    // B waits in line in Redis (it found the lock busy), not merely a moment after asking: else it may find the lock
    // free at its first attempt, and the test would prove nothing about polling.
    await until(async () => (await raw.zCard(`rx:state:v2:{${t}}:waiters`)) === 1, "b's registration");
    // The lock disappears without a PUBLISH (as when a notification is lost).
    await raw.del(lockKey(t));
    // Polled every 200 ms: well before the lock's 30 s expiry, the only other way B could get it.
    const next = await within(waiting, 15_000);
    expect(next).not.toBe('still waiting');
    await (next as StateLease).release();
    await expect(held.save({ s: { n: 1 } })).rejects.toBeInstanceOf(LockLostError);
    await held.release();
  });

  it('warns when a lock was held longer than lockWarningMs', async () => {
    const logger = recordingLogger();
    const store = worker({ lockWarningMs: 50, logger });
    const quick = await store.acquire(newToken());
    await quick.release();
    expect(logger.warnings).toEqual([]);

    const t = newToken();
    const slow = await store.acquire(t);
    await sleep(120);
    await slow.release();
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toMatch(new RegExp(`lock of token ${t.slice(0, 8)}… was held for \\d+ ms \\(warning threshold 50 ms`));
  });

  it('close() rejects its waiting callers and releases its locks for the other workers', async () => {
    // Locks and polls far longer than the test: only close()'s release can let B in.
    const slow = { lockTimeoutMs: 600_000, pollIntervalMs: 600_000, acquireTimeoutMs: 600_000 };
    const a = worker(slow);
    const b = worker(slow);
    // Redis knows the release script but not the leave script (as after any earlier test: a waiter rarely gives up):
    // A's leave is then sent twice (EVALSHA refused, then EVAL), and lands after its release whatever order they
    // were sent in. B must get the lock all the same.
    await raw.sendCommand(['SCRIPT', 'FLUSH']);
    const warm = worker({ lockLingerMs: 0 });
    await (await warm.acquire(newToken())).release();
    const t = newToken();
    const held = await a.acquire(t);
    const localWaiter = rejectionOf(a.acquire(t));
    const remoteWaiter = b.acquire(t);
    // B is queued in Redis (its acquire found the lock busy, after subscribing to the release) before A closes.
    // Callers are named after their process's owner id, the lock value's first part: B's is not A's.
    const ownerA = `${(await raw.get(lockKey(t)))!.split(':')[0]}:`;
    const waitersKey = `${lockKey(t).slice(0, -':lock'.length)}:waiters`;
    await until(async () => (await raw.zRange(waitersKey, 0, -1)).some((caller) => !caller.startsWith(ownerA)), "B's waiter registered in Redis");

    await a.close();
    const { error } = await localWaiter;
    expect(error).toBeInstanceOf(StateStoreError);
    expect(error).toMatchObject({ code: 'closed' });
    const next = await within(remoteWaiter, 40_000);
    expect(next).not.toBe('still waiting');
    await (next as StateLease).release();
    await expect(held.save({ s: { n: 1 } })).rejects.toBeInstanceOf(LockLostError);
    await expect(a.acquire(t)).rejects.toMatchObject({ code: 'closed' });
  });

  it('rejects with code "timeout" when Redis stops answering, and gives back a lock granted after the timeout', async () => {
    const store = worker({ commandTimeoutMs: 300, lockTimeoutMs: 30_000, pollIntervalMs: 30_000 });
    // commandTimeoutMs is also the connect timeout, which a loaded machine may miss: the store reconnects by itself.
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const t = newToken();
    await raw.sendCommand(['CLIENT', 'PAUSE', '5000', 'ALL']);
    const { error, ms } = await rejectionOf(store.acquire(t));
    expect(error).toBeInstanceOf(StateStoreError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect((error as Error).message).toMatch(/127\.0\.0\.1.*did not answer within 300 ms/);
    expect(ms).toBeLessThan(4000); // gave up on its own timeout, not when the pause ended

    // Once Redis answers again (the raw client's PING waits out the pause), the lock it granted late is released,
    // so the token is not blocked for 30 s.
    await raw.ping();
    // The store refuses acquisitions at once (unavailable, nothing sent) until its own late answer has arrived, a
    // moment after the raw client's: then the token is free, not held by the lock granted late.
    let lease: StateLease | undefined;
    await until(() => store.acquire(t).then((l) => Boolean((lease = l)), (e: StateStoreError) => (e.code === 'unavailable' ? false : Promise.reject(e))), 'the token to be free again', 10_000);
    await lease!.release();
  }, 15_000);

  it('forgets the locks of acquires that timed out once a stalled Redis answers them late, without a reconnection', async () => {
    const store = worker({ commandTimeoutMs: 200, acquireTimeoutMs: 200, lockTimeoutMs: 30_000, pollIntervalMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    // The locks the store still means to give back: it must not keep one per event of a stall for ever (the
    // connection never dropped, so no 'ready' comes to clear them). Private, hence the cast.
    const unreleased = () => (store as unknown as { unreleased: Map<string, unknown> }).unreleased.size;
    const tokens = Array.from({ length: 200 }, newToken);
    await raw.sendCommand(['CLIENT', 'PAUSE', '2000', 'ALL']);
    const results = await Promise.allSettled(tokens.map((t) => store.acquire(t)));
    expect(results.every((r) => r.status === 'rejected' && (r.reason as StateStoreError).code === 'timeout')).toBe(true);
    expect(unreleased()).toBeGreaterThan(0);
    await raw.ping();
    await until(() => unreleased() === 0, 'the late answers to clear the locks to give back', 10_000);
    // Every lock granted late was given back.
    await until(async () => (await Promise.all(tokens.map((t) => raw.exists(lockKey(t))))).every((n) => n === 0), 'the late locks to be released');
  }, 30_000);

  it('a frozen Redis (SIGSTOP): events keep failing cleanly, and what waits for it stays within maxPendingCommands', async () => {
    const connections = await RedisConnections.create({ url: server.url, maxReconnectDelayMs: 200, maxPendingCommands: 50 });
    connectionsToClose.push(connections);
    const store = worker({ url: undefined, connections, commandTimeoutMs: 200, acquireTimeoutMs: 200, lockTimeoutMs: 30_000, pollIntervalMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    // Scripts loaded, so that every command counted below is one EVALSHA.
    await (await store.acquire(newToken())).release();
    await raw.configResetStat();
    const tokens: string[] = [];
    const codes: string[] = [];
    server.pause();
    try {
      // A client that keeps sending events while Redis is frozen: 20 rounds of 50, each answered before the next.
      for (let round = 0; round < 20; round++) {
        const batch = Array.from({ length: 50 }, newToken);
        tokens.push(...batch);
        const results = await Promise.allSettled(batch.map((t) => store.acquire(t)));
        for (const result of results) codes.push(result.status === 'rejected' ? (result.reason as StateStoreError).code : 'granted');
      }
    } finally {
      server.resume();
    }
    // Each got an error: a timeout while the queue had room, then `unavailable` at once.
    expect(codes.filter((code) => code !== 'timeout' && code !== 'unavailable')).toEqual([]);
    await raw.ping();
    await until(async () => (await Promise.all(tokens.map((t) => raw.exists(lockKey(t))))).every((n) => n === 0), 'the late locks to be released');
    // What Redis ran once it came back: the 50 commands that waited and what follows from them (a granted lock's
    // release, a waiter's leave), not the commands of every event.
    const stats = await raw.info('commandstats');
    const calls = [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    expect(calls).toBeLessThanOrEqual(3 * 50 + 10);
    expect(codes.filter((code) => code === 'unavailable').length).toBeGreaterThan(0);
  }, 60_000);

  it('a frozen Redis (SIGSTOP): saves that gave up do not stay queued with their states behind the save in flight', async () => {
    const store = worker({ commandTimeoutMs: 300, lockTimeoutMs: 30_000, pollIntervalMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const leases = await Promise.all(Array.from({ length: 200 }, () => store.acquire(newToken())));
    // Private, hence the cast: the saves waiting for the save command in flight, and what they hold.
    const queue = (store as unknown as { saves: { queued: number; waiting: Iterable<{ args: string[] }> } }).saves;
    const big = 'x'.repeat(20_000);
    server.pause();
    try {
      const results = await Promise.allSettled(leases.map((lease) => lease.save({ 'root.page': { big } })));
      // The save in flight may have been applied; those that waited behind it were never sent (the client may retry).
      const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as StateStoreError).code : 'written'));
      expect(codes.filter((code) => code === 'outcome_unknown')).toHaveLength(1);
      expect(codes.filter((code) => code === 'timeout')).toHaveLength(199);
      // Every save gave up: none is sent any more, so none needs to be kept until Redis answers.
      let bytes = 0;
      for (const save of queue.waiting) for (const arg of save.args) bytes += arg.length;
      expect({ queued: queue.queued, bytes }).toEqual({ queued: 0, bytes: 0 });
    } finally {
      server.resume();
    }
    await Promise.all(leases.map((lease) => lease.release()));
  }, 30_000);

  it('a frozen Redis (SIGSTOP): after a save or a read that got no answer, lock attempts, reads and saves are refused at once until Redis answers', async () => {
    const store = worker({ commandTimeoutMs: 300, lockTimeoutMs: 30_000, pollIntervalMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const stuck = (error: unknown) => ({ code: (error as StateStoreError).code, nothingSent: /nothing was sent/.test((error as Error).message) });
    const refusedAtOnce = { code: 'unavailable', nothingSent: true };
    for (const first of ['save', 'read'] as const) {
      const t = newToken();
      const lease = await store.acquire(t);
      const other = await store.acquire(newToken());
      server.pause();
      try {
        // The command that finds Redis frozen waits commandTimeoutMs, as it must.
        if (first === 'save') expect(stuck((await rejectionOf(Promise.resolve(lease.save({ 'root.counter': { count: 1 } })))).error)).toMatchObject({ code: 'outcome_unknown' });
        else expect(stuck((await rejectionOf(store.read(t))).error)).toMatchObject({ code: 'timeout' });
        // Before: each of these waited commandTimeoutMs in turn (a timeout each: 5 s more per event by default);
        // only an acquisition that timed out made the next ones fail at once.
        expect(stuck((await rejectionOf(store.acquire(newToken()))).error)).toEqual(refusedAtOnce);
        expect(stuck((await rejectionOf(store.read(newToken()))).error)).toEqual(refusedAtOnce);
        expect(stuck((await rejectionOf(Promise.resolve(other.save({ 'root.counter': { count: 2 } })))).error)).toEqual(refusedAtOnce);
      } finally {
        server.resume();
      }
      await Promise.all([lease.release(), other.release()]);
      // Once Redis answered what waited, the store works again on the same connection.
      await until(() => store.read(t).then(() => true, () => false), 'reads to work after the thaw', 10_000);
      const next = await store.acquire(newToken());
      await next.save({ 'root.counter': { count: 3 } });
      await next.release();
    }
  }, 60_000);

  it('a frozen Redis (SIGSTOP): failed releases are logged once for the outage, not once per event', async () => {
    const logger = recordingLogger();
    const store = worker({ logger, commandTimeoutMs: 300, lockTimeoutMs: 30_000, lockWarningMs: 100, pollIntervalMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const leases = await Promise.all(Array.from({ length: 100 }, () => store.acquire(newToken())));
    server.pause();
    try {
      await Promise.allSettled(leases.map((lease) => lease.save({ 'root.counter': { count: 1 } })));
      await Promise.all(leases.map((lease) => lease.release()));
    } finally {
      server.resume();
    }
    // Each release failed (no answer within 300 ms) after a lock held past lockWarningMs by its lost save: the
    // store's failure, which the event's error already reports, not 100 slow handlers and 100 lines.
    expect(logger.warnings.length).toBeLessThanOrEqual(2);
    expect(logger.warnings.join('\n')).toMatch(/could not release/);
    await raw.ping();
    // The store refuses acquisitions at once until its own late answers arrived, a moment after the raw client's.
    let lease: StateLease | undefined;
    await until(() => store.acquire(newToken()).then((l) => Boolean((lease = l)), (e: StateStoreError) => (e.code === 'unavailable' ? false : Promise.reject(e))), 'the store to answer again', 10_000);
    await lease!.release();
    // Given back after lockLingerMs: the first release Redis answers ends the outage, with the count.
    await until(() => /operations failed while/.test(logger.warnings.join('\n')), 'the end of the outage to be logged');
    expect(logger.warnings.at(-1)).toMatch(/answers again; 100 operations failed/);
  }, 30_000);

  it('a save Redis refuses before writing (READONLY after a failover, BUSY) is not saved, not of unknown outcome, and the store recovers', async () => {
    const store = worker({ commandTimeoutMs: 2_000, lockTimeoutMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const t = newToken();
    let lease = await store.acquire(t);
    await lease.save({ 'root.counter': { count: 1 } });
    const refusedSave = async (refuse: () => Promise<unknown>, allow: () => Promise<unknown>) => {
      const held = await store.acquire(t);
      await refuse();
      try {
        return await rejectionOf(Promise.resolve().then(() => held.save({ 'root.counter': { count: 99 } })));
      } finally {
        await allow();
        await held.release();
      }
    };
    await lease.release();
    // A master turned into a replica (what a failover does to the old master): writes answer READONLY.
    const readonly = await refusedSave(
      () => raw.sendCommand(['REPLICAOF', '127.0.0.1', '1']),
      () => raw.sendCommand(['REPLICAOF', 'NO', 'ONE']),
    );
    expect(readonly.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/READONLY.*nothing was written/) });
    // Another client's script that runs too long: every other command answers BUSY until it is killed.
    const spinner = createClient({ url: server.url });
    spinner.on('error', () => undefined);
    await spinner.connect();
    let spinning: Promise<unknown> = Promise.resolve();
    const busy = await refusedSave(
      async () => {
        await raw.configSet({ 'busy-reply-threshold': '50' });
        spinning = spinner.eval('while true do end', { keys: [], arguments: [] }).catch(() => undefined);
        // Redis answers BUSY once the script has run for busy-reply-threshold.
        await until(() => raw.ping().then(() => false, (error: Error) => error.message.startsWith('BUSY')), 'Redis to answer BUSY');
      },
      async () => {
        await raw.sendCommand(['SCRIPT', 'KILL']);
        await spinning;
        spinner.destroy();
        await raw.configSet({ 'busy-reply-threshold': '5000' });
      },
    );
    expect(busy.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/BUSY.*nothing was written/) });
    expect(JSON.parse((await raw.hGet(stateKey(t), 'root.counter'))!)).toEqual({ count: 1 });
    // Back without a restart.
    lease = await store.acquire(t);
    expect(lease.state).toEqual({ 'root.counter': { count: 1 } });
    await lease.save({ 'root.counter': { count: 2 } });
    await lease.release();
  }, 30_000);

  it('answers outcome_unknown when a save was sent and its answer lost, since Redis may still apply it', async () => {
    const store = worker({ commandTimeoutMs: 300, lockTimeoutMs: 30_000 });
    await until(() => store.connect().then(() => true, () => false), 'the store to connect');
    const t = newToken();
    const lease = await store.acquire(t);
    // Writes (scripts included) wait out the pause: the save is sent, times out, and lands afterwards.
    await raw.sendCommand(['CLIENT', 'PAUSE', '3000', 'WRITE']);
    const { error } = await rejectionOf(Promise.resolve().then(() => lease.save({ 'root.counter': { count: 5 } })));
    expect(error).toBeInstanceOf(StateStoreError);
    expect(error).toMatchObject({ code: 'outcome_unknown' });
    expect((error as Error).message).toMatch(/may or may not have been applied/);
    const deadline = Date.now() + 15_000;
    while ((await raw.hGet(stateKey(t), 'root.counter')) == null) {
      if (Date.now() > deadline) throw new Error('the paused save never landed');
      await sleep(20);
    }
    expect(JSON.parse((await raw.hGet(stateKey(t), 'root.counter'))!)).toEqual({ count: 5 });
    await lease.release();
  }, 30_000);

  it('keeps a provisional state for unusedTtlSeconds only, and gives it the full TTL once a handler saved it', async () => {
    const store = worker({ ttlSeconds: 3600, unusedTtlSeconds: 60 });
    await store.connect();
    const t = newToken();
    let lease = await store.acquire(t);
    await lease.save({ root: { is_hydrated: true } }, { provisional: true });
    await lease.release();
    expect(await raw.pTTL(stateKey(t))).toBeLessThanOrEqual(60_000);
    // Acquiring (a use that changes nothing) keeps the short expiry.
    lease = await store.acquire(t);
    expect(await raw.pTTL(stateKey(t))).toBeLessThanOrEqual(60_000);
    await lease.save({ root: { is_hydrated: true }, 'root.counter': { count: 1 } });
    await lease.release();
    expect(await raw.pTTL(stateKey(t))).toBeGreaterThan(60_000);
    lease = await store.acquire(t);
    expect(await raw.pTTL(stateKey(t))).toBeGreaterThan(60_000);
    await lease.release();
  });

  it.each([
    ['its own connections', false],
    ['shared RedisConnections', true],
  ])('fails cleanly while Redis is down and works again after it restarts, with the same store: %s', async (_, shared) => {
    const logger = recordingLogger();
    const store = shared
      ? worker({ url: undefined, connections: await sharedConnections(), lockTimeoutMs: 2000, logger })
      : worker({ lockTimeoutMs: 2000, maxReconnectDelayMs: 200, logger });
    const kept = newToken();
    const saved = await store.acquire(kept);
    await saved.save({ s: { n: 7 } });
    await saved.release();

    const t = newToken();
    const held = await store.acquire(t);
    const queued = rejectionOf(store.acquire(t));
    await sleep(50);

    await server.stop();

    // A caller already waiting is rejected promptly, not left hanging.
    const waiting = await queued;
    expect(waiting.error).toBeInstanceOf(StateStoreError);
    expect(waiting.ms).toBeLessThan(3000);
    // New callers are refused at once, with a message that says what is wrong.
    for (const attempt of [store.acquire(newToken()), store.read(kept), Promise.resolve(held.save({ s: { n: 1 } }))]) {
      const { error, ms } = await rejectionOf(attempt);
      expect(error).toBeInstanceOf(StateStoreError);
      expect(error).toMatchObject({ code: 'unavailable' });
      expect((error as Error).message).toMatch(/RedisStateStore.*127\.0\.0\.1/);
      expect(ms).toBeLessThan(1000);
    }
    // Releasing while Redis is away does not throw (the lock expires by itself), it logs.
    await held.release();
    expect(logger.warnings.join('\n')).toMatch(/not connected to redis:\/\/127\.0\.0\.1/);

    await server.start();
    const deadline = Date.now() + 15_000;
    let lease: StateLease | undefined;
    while (!lease) {
      try {
        lease = await store.acquire(newToken());
      } catch (error) {
        expect(error).toBeInstanceOf(StateStoreError);
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
    await lease.save({ s: { n: 1 } });
    await lease.release();
    // Data written before the outage is still there (redis-server saved it on shutdown).
    expect(await store.read(kept)).toEqual({ s: { n: 7 } });
  }, 40_000);
});

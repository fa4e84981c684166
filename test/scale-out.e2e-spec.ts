/**
 * Scale out, end to end: three shop worker PROCESSES (`apps/shop/dist/main.js`, one port each, one REDIS_URL) behind a
 * real nginx, with a real redis-server underneath. What a production deployment has to survive:
 *
 * a. 100 clients × 100 `like` events through nginx, one worker SIGKILLed mid-run: its clients reconnect through nginx
 *    to the others with the same token (no `new_token`), find at least every acknowledged like after re-hydrating, and
 *    finish at exactly 100.
 * b. Redis stopped and started mid-run: events answer `bridge_error` `state_unavailable` while it is down, no worker
 *    crashes, and events work again within seconds of its return, on the same connections, with counts intact.
 * c. An HTTP change on worker A racing socket events on worker B for one token: serialised by the Redis lock, and
 *    B's socket sees the HTTP-triggered deltas too.
 * d. Logout over HTTP on worker A re-authenticates a live socket of that session on worker B within a second, and its
 *    next `full` event is denied.
 * e. `new_token` only for a genuinely duplicated tab (two live sockets, same token, two workers); e2. a tab reloaded
 *    onto another worker while its old socket still closes keeps its token (the races inside the claim are made
 *    deterministic in cluster-link.e2e-spec.ts).
 * f. A worker stopped with SIGTERM while Redis is down still exits (rolling restarts, orchestrated shutdowns).
 *
 * Workers: test/support/shop-workers.ts. Each test starts from three live workers and a live Redis (beforeEach starts
 * again, on the same port, whatever a previous test killed). Load stays modest for a 2-core machine: at most 40
 * clients have an event in flight at once, each waiting for its acknowledgement before sending the next.
 *
 * Needs redis-server and nginx (`bash scripts/install-test-deps.sh`). Without them the spec is skipped, except under
 * CI=true, where it fails. The build (`tsc -b tsconfig.build.json`) runs once in beforeAll; it is incremental.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { io, type Socket } from 'socket.io-client';
import { nginxSkipReason, startNginx, type NginxProxy } from './support/nginx.js';
import { RawSocket, type Update } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { buildShop, ShopWorkers, type ShopWorker } from './support/shop-workers.js';

const ROOT = 'reflex___state____state';
const LIKES = `${ROOT}.likes_state`;
const LIKE = `${LIKES}.like`;
/** The store failures a client may see while Redis goes away: not reached, or reached but its answer lost. */
const isStoreFailure = (code: string) => code === 'state_unavailable' || code === 'state_outcome_unknown';
const HYDRATE = `${ROOT}.hydrate`;
const ON_LOAD = `${ROOT}.reflex___state____on_load_internal_state.on_load_internal`;
const ACCOUNT = `${ROOT}.account_state`;
const CART = `${ROOT}.cart_state`;
const ROUTER = { pathname: '/', asPath: '/' };
/** Where the Redis state store keeps a token's state (RedisStateStore's default prefix). */
/** The state store's hash of a token (layout v2: one field per state, as JSON). */
const stateKey = (token: string) => `rx:state:v2:{${token}}`;

interface BridgeErrorPayload {
  code: string;
  message: string;
  event?: string;
}

/** What a `LikeClient` waits for after sending one event. */
type Outcome =
  | { kind: 'delta'; update: Update }
  | { kind: 'error'; error: BridgeErrorPayload }
  | { kind: 'disconnected' }
  | { kind: 'timeout' };

type Message = { kind: 'update'; update: Update } | { kind: 'error'; error: BridgeErrorPayload } | { kind: 'disconnected' };

const likesIn = (update: Update): number | undefined => {
  const value = update.delta?.[LIKES]?.['count_rx_state_'];
  return typeof value === 'number' ? value : undefined;
};

/**
 * A browser tab's socket reduced to what these tests need, on socket.io-client (websocket only, `?token=`, no
 * automatic reconnection: the test reconnects itself, like the Reflex client, and re-hydrates). Events are sent one
 * at a time and each waits for its own answer: a delta (acknowledged), a `bridge_error`, or a disconnect.
 */
class LikeClient {
  socket?: Socket;
  /** The count as this client knows it: the last acknowledged value, or the hydrated one. */
  count = 0;
  /** The highest count the server acknowledged with a delta. */
  acked = 0;
  readonly newTokens: string[] = [];
  readonly errors: BridgeErrorPayload[] = [];
  /** One entry per reconnection: what was acknowledged before and what re-hydration found. */
  readonly reconnects: Array<{ acked: number; hydrated: number }> = [];
  /** One entry per re-hydration after failed events (Redis down): acknowledged before, found after. */
  readonly resyncs: Array<{ acked: number; hydrated: number }> = [];
  disconnects = 0;
  /** When the last acknowledgement arrived (ms since the epoch). */
  lastAckAt = 0;
  /** When each acknowledgement arrived. */
  readonly ackTimes: number[] = [];
  /** Serialises the slices of work a test gives this client (one event in flight per client). */
  chain: Promise<void> = Promise.resolve();
  /** Set after a failed event: the next step re-reads the count with a hydrate before sending more. */
  resync = false;
  private readonly messages = new EventEmitter();

  constructor(
    readonly baseUrl: string,
    readonly token: string = randomUUID(),
  ) {
    this.messages.setMaxListeners(0);
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** Connects (retrying refused or failed handshakes until `timeoutMs`) and hydrates; returns the hydrated count. */
  async open(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.connect(Math.max(1000, Math.min(5000, deadline - Date.now())));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`client ${this.token} could not connect through ${this.baseUrl}: ${(error as Error).message}`, { cause: error });
        await delay(100);
      }
    }
    return this.hydrate(Math.max(5000, deadline - Date.now()));
  }

  /**
   * The Reflex hydrate sequence (hydrate, then on_load_internal), one event at a time. Returns the count the
   * hydrate delta carried. Retries while the state store is unavailable (Redis down), until `timeoutMs`.
   */
  async hydrate(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hydrated = await this.request(HYDRATE, (update) => (update.delta?.[ROOT]?.['is_hydrated_rx_state_'] === false ? update : undefined), deadline - Date.now());
      if (hydrated.kind === 'error' && isStoreFailure(hydrated.error.code) && Date.now() < deadline) {
        await delay(100);
        continue;
      }
      if (hydrated.kind !== 'delta') throw new Error(`hydrate of ${this.token} failed: ${JSON.stringify(hydrated)}`);
      const loaded = await this.request(ON_LOAD, (update) => (update.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true ? update : undefined), deadline - Date.now());
      if (loaded.kind === 'error' && isStoreFailure(loaded.error.code) && Date.now() < deadline) {
        await delay(100);
        continue;
      }
      if (loaded.kind !== 'delta') throw new Error(`on_load_internal of ${this.token} failed: ${JSON.stringify(loaded)}`);
      const count = likesIn(hydrated.update);
      if (count === undefined) throw new Error(`the hydrate delta of ${this.token} has no likes count: ${JSON.stringify(hydrated.update)}`);
      this.count = count;
      this.resync = false;
      return count;
    }
  }

  /**
   * Sends one `like` and waits for its answer: an update whose count is not the one the client shows. A worker whose
   * Redis subscriber came back sends its tabs their state again, unasked (the count they already show), which is no
   * answer; a like that changed nothing would leave this waiting until `timeoutMs` and fail the test.
   */
  like(timeoutMs: number): Promise<Outcome> {
    const shown = this.count;
    return this.request(LIKE, (update) => {
      const count = likesIn(update);
      return count !== undefined && count !== shown ? update : undefined;
    }, timeoutMs);
  }

  /** Drops the current socket (if any), connects again through the same URL with the same token, re-hydrates. */
  async reopen(timeoutMs = 40_000): Promise<void> {
    this.socket?.removeAllListeners();
    this.socket?.close();
    const hydrated = await this.open(timeoutMs);
    this.reconnects.push({ acked: this.acked, hydrated });
  }

  close(): void {
    this.socket?.close();
  }

  /** When the first acknowledgement after `time` arrived (Infinity when none did). */
  firstAckAfter(time: number): number {
    return this.ackTimes.find((at) => at > time) ?? Infinity;
  }

  /** Sends an event and resolves with the first delta `match` accepts, an error about this event, or a disconnect. */
  private request(name: string, match: (update: Update) => Update | undefined, timeoutMs: number): Promise<Outcome> {
    const socket = this.socket;
    if (!socket?.connected) return Promise.resolve({ kind: 'disconnected' });
    return new Promise((resolve) => {
      const finish = (outcome: Outcome) => {
        clearTimeout(timer);
        this.messages.off('message', listener);
        resolve(outcome);
      };
      const listener = (message: Message) => {
        if (message.kind === 'disconnected') finish(message);
        else if (message.kind === 'error' && (message.error.event === undefined || message.error.event === name)) finish(message);
        else if (message.kind === 'update') {
          const update = match(message.update);
          if (update) finish({ kind: 'delta', update });
        }
      };
      const timer = setTimeout(() => finish({ kind: 'timeout' }), Math.max(1, timeoutMs));
      this.messages.on('message', listener);
      socket.emit('event', { name, payload: {}, router_data: ROUTER });
    });
  }

  /** One connection attempt (no hydrate): resolves once connected, rejects when refused or after `timeoutMs`. */
  connect(timeoutMs: number): Promise<void> {
    const socket = io(`${this.baseUrl}/_event`, {
      path: '/_event',
      transports: ['websocket'],
      query: { token: this.token },
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
    });
    this.socket = socket;
    // Listeners go on before the handshake: `new_token` is sent right after it.
    socket.on('event', (update: Update) => socket === this.socket && this.messages.emit('message', { kind: 'update', update }));
    socket.on('bridge_error', (error: BridgeErrorPayload) => {
      if (socket !== this.socket) return;
      this.errors.push(error);
      this.messages.emit('message', { kind: 'error', error });
    });
    socket.on('new_token', (token: string) => socket === this.socket && this.newTokens.push(token));
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.once('disconnect', () => {
          if (socket !== this.socket) return;
          this.disconnects++;
          this.messages.emit('message', { kind: 'disconnected' });
        });
        resolve();
      });
      socket.once('connect_error', (error) => {
        socket.removeAllListeners();
        socket.close();
        reject(error);
      });
    });
  }
}

/**
 * Sends `like` events one at a time until the client's count reaches `target`, each after the previous one was
 * acknowledged. A dropped connection is reopened through the same URL with the same token and re-hydrated; after a
 * `bridge_error` (recorded in `client.errors` for the test to judge) the client re-hydrates on the same connection
 * and retries. Either way the count goes on from what the server holds, which must be at least what it
 * acknowledged (and at most one more: the one event that was in flight).
 */
async function likeUntil(client: LikeClient, target: number, onAck: () => void = () => undefined): Promise<void> {
  const checkNothingLost = (step: string, { acked, hydrated }: { acked: number; hydrated: number }) => {
    if (hydrated < acked || hydrated > acked + 1) throw new Error(`client ${client.token}: ${step} found ${hydrated} likes after ${acked} acknowledged`);
  };
  while (client.count < target) {
    if (!client.connected) {
      await client.reopen();
      checkNothingLost('re-hydrating after a reconnect', client.reconnects.at(-1)!);
      continue;
    }
    if (client.resync) {
      const acked = client.acked;
      const hydrated = await client.hydrate(60_000);
      client.resyncs.push({ acked, hydrated });
      checkNothingLost('re-hydrating after a failed event', client.resyncs.at(-1)!);
      continue;
    }
    const before = client.count;
    const outcome = await client.like(30_000);
    if (outcome.kind === 'disconnected') continue;
    if (outcome.kind === 'error') {
      // Recorded in client.errors (the tests say which codes are acceptable); the state may or may not have
      // changed, so re-read it before going on.
      client.resync = true;
      await delay(100);
      continue;
    }
    if (outcome.kind !== 'delta') throw new Error(`like of ${client.token} at ${before}: ${JSON.stringify(outcome)}`);
    const count = likesIn(outcome.update)!;
    // One client, one event at a time: every acknowledgement is exactly one more.
    if (count !== before + 1) throw new Error(`client ${client.token} got ${count} after ${before}`);
    client.count = client.acked = count;
    client.lastAckAt = Date.now();
    client.ackTimes.push(client.lastAckAt);
    onAck();
  }
}

/** Runs `tasks` with at most `limit` running at once; rejects with the first failure (after all settle). */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const runner = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (failures.length > 0) throw failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
}

async function fetchWithTimeout(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

async function login(worker: ShopWorker): Promise<string> {
  const response = await fetchWithTimeout(`${worker.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'demo', password: 'demo123' }),
  });
  expect(response.status).toBe(200);
  const cookie = response.headers.get('set-cookie');
  expect(cookie).toMatch(/^shop\.sid=/);
  return cookie!.split(';')[0];
}

async function me(worker: ShopWorker, cookie?: string): Promise<string | null> {
  const response = await fetchWithTimeout(`${worker.url}/auth/me`, { headers: cookie ? { cookie } : {} });
  expect(response.status).toBe(200);
  return ((await response.json()) as { user: string | null }).user;
}

const nginxMissing = nginxSkipReason(); // throws under CI=true when nginx is missing
if (nginxMissing) console.warn(nginxMissing);

const suite = (name: string, fn: () => void) => (nginxMissing ? describe.skip(`${name} [skipped: nginx missing]`, fn) : describeWithRedis(name, fn));

suite('scale out: 3 shop worker processes behind nginx, sharing Redis', () => {
  let redis: RedisTestServer;
  let workers: ShopWorkers;
  let nginx: NginxProxy;
  let data: ReturnType<typeof createClient>;

  /** The count stored in Redis for `token` (read straight from the state store's hash field, as JSON). */
  const storedLikes = async (token: string): Promise<number | undefined> => {
    const raw = await data.hGet(stateKey(token), LIKES);
    if (raw === null || raw === undefined) return undefined;
    return (JSON.parse(raw) as { count?: number }).count;
  };
  const diagnostics = async () => `\n${workers.output().slice(-12_000)}\n----- nginx error log -----\n${(await nginx.errorLog()).slice(-3000)}`;

  beforeAll(async () => {
    await buildShop();
    redis = await RedisTestServer.launch();
    workers = await ShopWorkers.start(3, { env: { REDIS_URL: redis.url, SQLITE_PATH: ':memory:', NODE_ENV: 'development' } });
    nginx = await startNginx(workers.ports);
    data = createClient({ url: redis.url });
    data.on('error', () => undefined); // reconnects by itself across the Redis restart
    await data.connect();
  }, 240_000);

  afterAll(async () => {
    await data?.close().catch(() => undefined);
    await nginx?.stop();
    await workers?.stop();
    await redis?.destroy();
  }, 60_000);

  beforeEach(async () => {
    // Each test starts from three live workers and a live Redis, whatever the previous one did to them.
    await redis.start();
    await workers.ensureRunning();
  }, 60_000);

  /** Gives every client work in slices (rounds of `slice` likes), at most `concurrency` clients busy at once. */
  const runInRounds = (clients: LikeClient[], target: number, slice: number, concurrency: number, onAck: () => void) => {
    const work: Array<{ client: LikeClient; upTo: number }> = [];
    for (let upTo = slice; upTo <= target; upTo += slice) for (const client of clients) work.push({ client, upTo });
    return pool(work, concurrency, ({ client, upTo }) => (client.chain = client.chain.then(() => likeUntil(client, upTo, onAck))));
  };

  it('a. 100 clients × 100 likes through nginx end exactly right, with a worker SIGKILLed mid-run', async () => {
    const CLIENTS = 100;
    const TARGET = 100;
    const KILL_AT = Math.round(CLIENTS * TARGET * 0.4);
    const victim = workers.workers[0];
    const clients = Array.from({ length: CLIENTS }, () => new LikeClient(nginx.url));
    try {
      await pool(clients, 10, async (client) => {
        expect(await client.open()).toBe(0);
      });

      let total = 0;
      let killed: Promise<void> | undefined;
      await runInRounds(clients, TARGET, 25, 40, () => {
        if (++total === KILL_AT) killed = victim.kill('SIGKILL');
      }).catch(async (error: Error) => {
        throw new Error(`${error.message}${await diagnostics()}`);
      });
      await killed;
      expect(victim.exitStatus()).toBe('signal SIGKILL');
      // Clients that were idle on the victim when it died were dropped too: they come back the same way.
      for (const client of clients.filter((candidate) => !candidate.connected)) await client.reopen();

      const dropped = clients.filter((client) => client.disconnects > 0);
      // nginx spread the clients round robin: about a third of them were on the killed worker...
      expect(dropped.length).toBeGreaterThanOrEqual(20);
      expect(dropped.length).toBeLessThanOrEqual(45);
      // ...and they had acknowledged likes to lose (the kill came with every client part-way).
      expect(dropped.filter((client) => client.reconnects[0].acked > 0).length).toBeGreaterThanOrEqual(dropped.length - 5);
      for (const client of dropped) {
        expect(client.reconnects.length).toBeGreaterThanOrEqual(1);
        for (const { acked, hydrated } of client.reconnects) {
          expect(hydrated).toBeGreaterThanOrEqual(acked);
          expect(hydrated).toBeLessThanOrEqual(acked + 1);
        }
      }
      // Same token throughout (never `new_token`), no errors, exactly 100 likes each.
      for (const client of clients) {
        expect({ token: client.token, newTokens: client.newTokens, errors: client.errors, count: client.count }).toEqual({
          token: client.token,
          newTokens: [],
          errors: [],
          count: TARGET,
        });
      }
      // What Redis holds, read independently of any worker.
      expect(await Promise.all(clients.map((client) => storedLikes(client.token)))).toEqual(clients.map(() => TARGET));
      // A dropped client opening yet another connection through nginx still finds its state under its token.
      const sample = dropped[0];
      sample.close();
      await sample.reopen();
      expect(sample.count).toBe(TARGET);
      expect(sample.newTokens).toEqual([]);
      for (const worker of workers.workers.slice(1)) expect(worker.alive).toBe(true);
    } finally {
      for (const client of clients) client.close();
    }
  }, 150_000);

  it('b. Redis restarted mid-run: events fail cleanly while it is down and work again within seconds, counts intact', async () => {
    const CLIENTS = 20;
    const TARGET = 100;
    const STOP_AT = Math.round(CLIENTS * TARGET * 0.3);
    const clients = Array.from({ length: CLIENTS }, () => new LikeClient(nginx.url));
    const extra: LikeClient[] = [];
    try {
      await pool(clients, 10, async (client) => {
        expect(await client.open()).toBe(0);
      });

      let total = 0;
      let outage: Promise<void> | undefined;
      let restartedAt = 0;
      const duringOutage: { me: Array<string | null>; fresh?: unknown } = { me: [] };
      const lockedUntil = new Map<string, number>();
      const takeRedisAway = async () => {
        await redis.stop();
        try {
          const stoppedAt = Date.now();
          // Down for at least 1.5 s, and until every client has been told (bounded).
          while (Date.now() - stoppedAt < 1500 || (clients.some((client) => !client.errors.length) && Date.now() - stoppedAt < 8000)) await delay(100);
          // Plain HTTP still answers on every worker (no session cookie: the session store is not needed).
          for (const worker of workers.workers) duringOutage.me.push(await me(worker));
          // A socket connecting while Redis is down (a reload, a reconnect) gets an answer too, not silence: its
          // handshake is refused (a Reflex tab tries again on its backoff, with its token, until Redis answers).
          const fresh = new LikeClient(workers.workers[1].url);
          extra.push(fresh);
          duringOutage.fresh = await fresh.connect(5000).then(
            () => ({ connected: true }),
            (error: Error & { data?: unknown }) => error.data,
          );
          fresh.close();
        } finally {
          await redis.start();
          restartedAt = Date.now();
        }
        // Locks taken just before the shutdown were saved with the data: unless their holder gives them back once
        // reconnected, they block their token until they expire (the store's lockTimeoutMs after they were taken).
        await Promise.all(
          clients.map(async (client) => {
            const ttl = await data.pTTL(`${stateKey(client.token)}:lock`);
            if (ttl > 0) lockedUntil.set(client.token, Date.now() + ttl);
          }),
        );
      };
      await pool(clients, CLIENTS, (client) =>
        likeUntil(client, TARGET, () => {
          if (++total !== STOP_AT) return;
          outage = takeRedisAway();
          outage.catch(() => undefined); // awaited (and its failure reported) below
        }),
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}${await diagnostics()}`);
      });
      await outage;
      expect(restartedAt).toBeGreaterThan(0);

      // While down: structured errors, nothing else, and every client got one.
      for (const client of clients) {
        // A `like`, or the hydrate a client sends to re-read its count after a failed event.
        expect(client.errors.find((error) => error.code === 'state_unavailable')).toMatchObject({
          event: expect.stringMatching(/^reflex___state____state\.(likes_state\.like|hydrate)$/),
          message: expect.stringMatching(/state store is unavailable/),
        });
        expect(client.newTokens).toEqual([]);
        expect(client.disconnects).toBe(0); // the same connections, all along
      }
      expect(duringOutage.me).toEqual([null, null, null]);
      for (const client of clients) expect(client.resyncs.length).toBeGreaterThan(0);
      // Counts went on from what was acknowledged (Redis saved it on shutdown) and ended exactly right.
      for (const client of clients) {
        for (const { acked, hydrated } of client.resyncs) expect(hydrated - acked).toBeGreaterThanOrEqual(0);
        expect(client.count).toBe(TARGET);
      }
      expect(await Promise.all(clients.map((client) => storedLikes(client.token)))).toEqual(clients.map(() => TARGET));
      for (const worker of workers.workers) expect({ worker: worker.name, alive: worker.alive }).toEqual({ worker: worker.name, alive: true });
      for (const worker of workers.workers) expect(await me(worker)).toBeNull();
      // Checked together, so that one failure shows all three:
      // - a connection made during the outage was answered, not left waiting for Redis to come back;
      // - only store failures, ever: state_unavailable, or state_outcome_unknown for a save that Redis received but
      //   whose answer the shutdown cut off (it may have landed; the client re-reads either way), never a
      //   handler_error;
      // - back within seconds: every client's first acknowledgement after the restart came within 5 s of it, including
      //   clients whose token was locked when Redis went away (that lock was saved with the data and comes back).
      const slowRecoveries = clients
        .map((client) => ({
          token: client.token,
          recoveryMs: client.firstAckAfter(restartedAt) - restartedAt,
          lockLeftAtRestartMs: lockedUntil.has(client.token) ? lockedUntil.get(client.token)! - restartedAt : 0,
        }))
        .filter(({ recoveryMs }) => recoveryMs > 5000);
      expect({
        connectionDuringOutage: duringOutage.fresh,
        otherErrors: clients.flatMap((client) => client.errors).filter((error) => !isStoreFailure(error.code)),
        slowRecoveries,
      }).toEqual({
        connectionDuringOutage: { code: 'state_store_unavailable' },
        otherErrors: [],
        slowRecoveries: [],
      });
    } finally {
      for (const client of [...clients, ...extra]) client.close();
    }
  }, 120_000);

  it('c. an HTTP change on worker A racing socket events on worker B for one token: serialised, and B sees both', async () => {
    const [a, b] = workers.workers;
    const tab = new LikeClient(b.url);
    try {
      expect(await tab.open()).toBe(0);
      const errorsBefore = tab.errors.length;
      const seen: number[] = [];
      tab.socket!.on('event', (update: Update) => {
        const count = likesIn(update);
        if (count !== undefined) seen.push(count);
      });
      // The previous test restarted Redis: wait until a change made on A reaches B's socket (each worker's adapter
      // has subscribed again) before racing, so the race measures serialisation, not the reconnect.
      let base = 0;
      const linkDeadline = Date.now() + 30_000;
      while (seen.length === 0) {
        if (Date.now() > linkDeadline) throw new Error('a change on worker A never reached the socket on worker B');
        expect((await fetchWithTimeout(`${a.url}/likes`, { method: 'POST', headers: { 'x-reflex-token': tab.token } }, 30_000)).status).toBe(204);
        base += 1;
        const waitUntil = Date.now() + 1000;
        while (seen.length === 0 && Date.now() < waitUntil) await delay(20);
      }
      // A slow delivery of an earlier change may still be on its way: wait for the last one (Redis delivers one
      // publisher's messages in order, so nothing older can come after it).
      while (!seen.includes(base)) {
        if (Date.now() > linkDeadline) throw new Error(`the change to ${base} never reached the socket on worker B`);
        await delay(20);
      }
      seen.length = 0;
      const EACH = 50;
      // Both sides at once: 50 `like` frames on B's socket and 50 POSTs to A, all in flight together.
      const gifts = Array.from({ length: EACH }, () => fetchWithTimeout(`${a.url}/likes`, { method: 'POST', headers: { 'x-reflex-token': tab.token } }, 30_000).then((response) => response.status));
      for (let i = 0; i < EACH; i++) tab.socket!.emit('event', { name: LIKE, payload: {}, router_data: ROUTER });
      expect(await Promise.all(gifts)).toEqual(Array.from({ length: EACH }, () => 204));
      const deadline = Date.now() + 20_000;
      while (seen.length < 2 * EACH && Date.now() < deadline) await delay(50);
      // One after the other: every value from 1 to 100 exactly once. Half of those deltas were made on A and
      // reached B's socket through the Redis adapter.
      expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * EACH }, (_, i) => base + i + 1));
      expect(tab.errors.slice(errorsBefore)).toEqual([]);
      expect(await storedLikes(tab.token)).toBe(base + 2 * EACH);
      expect(await tab.hydrate()).toBe(base + 2 * EACH);
    } finally {
      tab.close();
    }
  }, 60_000);

  it('d. logout over HTTP on worker A re-authenticates a live socket of that session on worker B within a second', async () => {
    const [a, b] = workers.workers;
    // A has served no socket at all (restarted just now): the logout must still reach B's socket.
    await a.stop();
    await a.start();
    const cookie = await login(a);
    // Sessions live in Redis: B knows the login made on A.
    expect(await me(b, cookie)).toBe('demo');
    const tab = new RawSocket(b.url, randomUUID(), { headers: { cookie } });
    try {
      await tab.connected();
      await tab.hydrate();
      tab.send(`${ACCOUNT}.refresh`);
      await tab.untilVar(ACCOUNT, 'isAuthenticated', true);
      expect(tab.latest(ACCOUNT, 'username')).toBe('demo');
      // Logged in, the full-tier cart works.
      tab.send(`${CART}.add`, { productId: 1 });
      await tab.until(() => ((tab.latest(CART, 'lines') as unknown[] | undefined) ?? []).length === 1, 5000, 'a cart line');

      const logout = await fetchWithTimeout(`${a.url}/auth/logout`, { method: 'POST', headers: { cookie } });
      expect(logout.status).toBe(200);
      const loggedOutAt = Date.now();
      await tab.untilVar(ACCOUNT, 'isAuthenticated', false, 1000);
      expect(Date.now() - loggedOutAt).toBeLessThanOrEqual(1000);
      expect(tab.latest(ACCOUNT, 'username')).toBe('');

      const errorsBefore = tab.errors.length;
      tab.send(`${CART}.add`, { productId: 1 });
      await tab.until(() => tab.errors.length > errorsBefore, 5000, 'the cart to be refused');
      expect(tab.errors.at(-1)).toMatchObject({ code: 'unauthorized', event: `${CART}.add` });
      // The cart is kept with whose it is: shown to nobody once its user logged out (the refused add changed nothing).
      expect(tab.latest(CART, 'lines')).toEqual([]);
      expect(tab.newTokens).toEqual([]);
      expect(await me(b, cookie)).toBeNull();
    } finally {
      tab.close();
    }
  }, 60_000);

  it('e. new_token only for a genuinely duplicated tab: two live sockets with one token on two workers', async () => {
    const [, b, c] = workers.workers;
    const token = randomUUID();
    const first = new LikeClient(b.url, token);
    const tabs = [first];
    try {
      await first.open();
      await likeUntil(first, 1);
      // The duplicate (sessionStorage copied into a new tab) connects to another worker while the first is alive.
      const duplicate = new LikeClient(c.url, token);
      tabs.push(duplicate);
      expect(await duplicate.open()).toBe(0); // hydrated under its new token: a fresh state
      expect(duplicate.newTokens).toHaveLength(1);
      expect(duplicate.newTokens[0]).not.toBe(token);
      expect(first.newTokens).toEqual([]);
      await likeUntil(first, 2);
      expect(await storedLikes(token)).toBe(2);
      // Once the first tab is gone, its token is free again: a reconnect elsewhere keeps it, and its state.
      first.close();
      const reopened = new LikeClient(c.url, token);
      tabs.push(reopened);
      expect(await reopened.open()).toBe(2);
      expect(reopened.newTokens).toEqual([]);
      // A duplicate on the same worker as the live holder is caught too.
      const sameWorker = new LikeClient(c.url, token);
      tabs.push(sameWorker);
      await sameWorker.open();
      expect(sameWorker.newTokens).toHaveLength(1);
      expect(reopened.newTokens).toEqual([]);
    } finally {
      for (const tab of tabs) tab.close();
    }
  }, 60_000);

  it('e2. a tab reloaded onto another worker keeps its token and state when its old socket closes after the new one connected', async () => {
    const [, b, c] = workers.workers;
    const token = randomUUID();
    const first = new LikeClient(b.url, token);
    const reloaded = new LikeClient(c.url, token);
    try {
      await first.open();
      await likeUntil(first, 1);
      // The reloaded page's socket is in before the old page's one closes (a busy worker or the proxy saw them so).
      await reloaded.connect(10_000);
      first.close();
      // A new token here means the claim judged the old socket alive, or lost its record while it left.
      expect({ count: await reloaded.hydrate(30_000), newTokens: reloaded.newTokens }).toEqual({ count: 1, newTokens: [] });
    } finally {
      first.close();
      reloaded.close();
    }
  }, 60_000);

  it('f. a worker stopped (SIGTERM) while Redis is down still shuts down', async () => {
    const worker = workers.workers[2];
    await redis.stop();
    try {
      const stoppingAt = Date.now();
      const exited = worker.kill('SIGTERM');
      const inTime = await Promise.race([exited.then(() => true), delay(10_000).then(() => false)]);
      if (!inTime) await worker.kill('SIGKILL');
      // A rolling restart or an orchestrator stopping everything at once must not leave workers hanging on Redis.
      const status = worker.exitStatus();
      const clean = status === 'code 0' || status === 'signal SIGTERM';
      // On failure, the worker's last output says why it did not stop cleanly.
      expect({ exitedWithin10s: inTime, status, output: clean ? '' : worker.output().slice(-4000) }).toEqual({ exitedWithin10s: true, status: expect.stringMatching(/^(code 0|signal SIGTERM)$/), output: '' });
      expect(Date.now() - stoppingAt).toBeLessThan(10_000);
    } finally {
      await redis.start();
    }
  }, 60_000);
});

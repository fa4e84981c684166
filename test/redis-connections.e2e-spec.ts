/**
 * How many Redis connections one worker opens. A shop worker runs with REDIS_URL and every Redis-using feature of
 * the library on (state store, live transport, rate limits, cookie handoffs, the session-store watcher, the event
 * cache, the Socket.IO adapter); after an event, a login and a logout over events, the spec counts the worker's
 * connections with CLIENT LIST (the Redis is this spec's own: every connection but the spec's is the worker's).
 *
 * The library's shared connections are named: `rx:commands` and `rx:subscriber`, one each, whatever the features:
 * the Socket.IO adapter, the token records and the event cache's Keyv run on them too. A worker opens exactly 2,
 * plus the shop's own session store (`shop:sessions`), and no unnamed one.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { RawSocket, handoffOf } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { buildShop, ShopWorker } from './support/shop-workers.js';

const ROOT = 'reflex___state____state';
const LIKES = `${ROOT}.likes_state`;
const ACCOUNT = `${ROOT}.account_state`;

/** The library's shared connections, by name: what every worker opens with `redisUrl`, whatever it uses. */
const LIBRARY_CONNECTIONS = ['rx:commands', 'rx:subscriber'];
/** The shop's own connection (connect-redis sessions): the app's, not the library's. */
const APP_CONNECTIONS = ['shop:sessions'];

interface ClientInfo {
  name: string;
  sub: number;
  psub: number;
  /** The protocol the connection speaks (2 or 3). */
  resp: number;
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeWithRedis('Redis connections per worker', () => {
  let redis: RedisTestServer;
  let worker: ShopWorker;
  let observer: ReturnType<typeof createClient>;

  /** Every connection on the server except this spec's own. */
  const workerConnections = async (): Promise<ClientInfo[]> => {
    const list = await observer.clientList();
    return list
      .filter((client) => client.name !== 'test:observer')
      .map((client) => ({ name: client.name, sub: Number(client.sub), psub: Number(client.psub), resp: Number(client.resp) }));
  };
  const named = (clients: ClientInfo[], prefix: string) => clients.filter((client) => client.name.startsWith(prefix)).map((client) => client.name).sort();

  beforeAll(async () => {
    await buildShop();
    redis = await RedisTestServer.launch();
    // REDIS_URL turns on, in the shop: redisUrl (states, live updates, rate limits, handoffs, the event cache, the
    // Socket.IO adapter) and sessionStore (the keyspace watcher), plus its connect-redis session store.
    worker = await ShopWorker.start('worker', { env: { REDIS_URL: redis.url, SQLITE_PATH: ':memory:', NODE_ENV: 'development' } });
    observer = createClient({ url: redis.url, name: 'test:observer' });
    observer.on('error', () => undefined); // reconnects by itself across the restart below
    await observer.connect();
  }, 240_000);

  afterAll(async () => {
    if (observer?.isOpen) await observer.close().catch(() => undefined);
    await worker?.stop();
    await redis?.destroy();
  }, 60_000);

  /** A like, a login over an event with its cookie handoff redeemed, and a logout: every Redis user at work. */
  const exercise = async () => {
    const tab = new RawSocket(worker.url, randomUUID());
    try {
      await tab.connected();
      await tab.hydrate();
      tab.send(`${LIKES}.like`, {});
      await tab.until(() => Number(tab.latest(LIKES, 'count') ?? 0) >= 1, 20_000, 'the like');
      const before = tab.updates.length;
      tab.send(`${ACCOUNT}.login`, { username: 'demo', password: 'demo123' });
      await tab.untilVar(ACCOUNT, 'isAuthenticated', true, 20_000);
      const handoff = () => tab.updates.slice(before).find((update) => handoffOf(update) !== undefined);
      await tab.until(() => handoff() !== undefined, 20_000, 'the cookie handoff');
      const { url: path, secret } = handoffOf(handoff()!)!;
      const redeemed = await fetch(`${worker.url}${path}`, { method: 'POST', headers: { 'x-reflex-handoff': secret, 'reflex-client-token': tab.token } });
      expect(redeemed.status).toBe(200);
      tab.send(`${ACCOUNT}.logout`, {});
      await tab.untilVar(ACCOUNT, 'isAuthenticated', false, 20_000);
    } finally {
      tab.close();
    }
  };

  const expectCounts = async () => {
    const clients = await workerConnections();
    const diagnostics = `\n${JSON.stringify(clients)}\n${worker.output().slice(-4000)}`;
    // The library's own: exactly one of each shared connection, and no other rx:* connection.
    expect({ names: named(clients, 'rx:'), diagnostics }).toEqual({ names: LIBRARY_CONNECTIONS, diagnostics });
    expect(named(clients, 'shop:')).toEqual(APP_CONNECTIONS);
    // RESP2 on node-redis 6 too (its default is RESP3), as deploy.md says; the app's own client keeps node-redis's default.
    expect(clients.filter((client) => client.name.startsWith('rx:')).map((client) => client.resp)).toEqual([2, 2]);
    // The subscriber carries the live channel and the session keyspace pattern.
    const subscriber = clients.find((client) => client.name === 'rx:subscriber')!;
    expect(subscriber.sub).toBeGreaterThanOrEqual(1);
    expect(subscriber.psub).toBeGreaterThanOrEqual(1);
    const unnamed = clients.filter((client) => client.name === '');
    expect({ unnamed: unnamed.length, diagnostics }).toEqual({ unnamed: 0, diagnostics });
    expect(clients).toHaveLength(LIBRARY_CONNECTIONS.length + APP_CONNECTIONS.length);
  };

  it('opens rx:commands and rx:subscriber once each, whatever the features, plus the parts not yet shared', async () => {
    await exercise();
    await expectCounts();
  });

  it('after Redis restarts, the same connections come back (named, re-subscribed) and no more', async () => {
    await redis.restart();
    await until(async () => {
      try {
        const names = named(await workerConnections(), 'rx:');
        return names.length === 2;
      } catch {
        return false; // the observer is still reconnecting
      }
    }, 'the shared connections to reconnect');
    // Reconnected connections may still be on their way back (each retries on its own schedule): an event that
    // goes through proves the command connection works again.
    await until(async () => {
      try {
        await exercise();
        return true;
      } catch {
        return false;
      }
    }, 'events to work again', 60_000);
    await expectCounts();
  }, 120_000);
});

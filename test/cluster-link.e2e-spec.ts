/**
 * The cluster-wide token claim (gateway/cluster-link.ts) against a real Redis and two real Socket.IO servers joined
 * by the Redis adapter, the way two workers are. A reloaded tab's new socket reaches one worker while its old socket,
 * on the other, is still closing; the claim must go to the new socket once the old one is gone, whenever in the
 * claim the old one leaves. Each race is made deterministic by running the old socket's exit at a chosen point:
 * the record's `GET` is wrapped so a test can act right after it answered.
 */
import { afterAll, afterEach, beforeAll, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Namespace } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { createClient } from 'redis';
import { ClusterLink } from '../libs/reflex-bridge/src/gateway/cluster-link.js';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const NAMESPACE = '/_event';
const RECORD_TTL_SECONDS = 60;

/** What a test runs right after the record's `GET` answered, once. */
type AfterGet = (() => Promise<void>) | undefined;

/** One worker: a Socket.IO server on loopback, its Redis connections and its cluster link. */
interface Worker {
  http: HttpServer;
  server: Server;
  namespace: Namespace;
  connections: RedisConnections;
  link: ClusterLink;
  url: string;
  /** Set by a test: runs once after this worker's next `GET`. */
  afterGet: AfterGet;
  gets: number;
  /** Tokens whose events this worker is still running (the event pipeline's queue, as the gateway passes it). */
  busy: Set<string>;
}

/**
 * The worker's connections, with `commands.get` running the test's hook after it answered: the only change to the
 * real client, so the race's steps happen in a chosen order.
 */
function withGetHook(connections: RedisConnections, worker: () => Worker): RedisConnections {
  const commands = connections.commands;
  const hooked = new Proxy(commands, {
    get(target, property, receiver) {
      if (property !== 'get') return Reflect.get(target, property, receiver);
      return async (key: string) => {
        const value = await target.get(key);
        const self = worker();
        self.gets++;
        const hook = self.afterGet;
        self.afterGet = undefined;
        await hook?.();
        return value;
      };
    },
  });
  return Object.create(connections, { commands: { get: () => hooked } }) as RedisConnections;
}

async function startWorker(redisUrl: string): Promise<Worker> {
  const connections = await RedisConnections.create({ url: redisUrl, namePrefix: 'test:' });
  await connections.ready();
  const http = createServer();
  const server = new Server(http);
  const namespace = server.of(NAMESPACE);
  const worker = { http, server, namespace, connections, afterGet: undefined, gets: 0, busy: new Set<string>() } as unknown as Worker;
  worker.link = await ClusterLink.create(withGetHook(connections, () => worker), RECORD_TTL_SECONDS, new Logger('ClusterLinkSpec'));
  worker.link.attach(namespace, (token) => worker.busy.has(token));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  worker.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return worker;
}

async function stopWorker(worker: Worker | undefined): Promise<void> {
  if (!worker) return;
  await worker.server.close();
  await worker.connections.close();
}

/** What `promise` gives within `ms`, or 'still waiting': a claim held for a frozen Redis's whole freeze is the bug. */
async function answerWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const frozenFor = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([promise, frozenFor]);
  } finally {
    clearTimeout(timer);
  }
}

describeWithRedis('ClusterLink: a token claimed across workers', () => {
  let redis: RedisTestServer;
  let a: Worker;
  let b: Worker;
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    a = await startWorker(redis.url);
    b = await startWorker(redis.url);
    // Each adapter answers the other's cluster-wide questions once both are subscribed.
    await until(async () => (await a.connections.commands.sendCommand(['PUBSUB', 'NUMSUB', 'rx:io-request#/_event#']) as unknown[])[1] === 2, 'both adapters to subscribe');
  }, 60_000);

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    a.afterGet = b.afterGet = undefined;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await stopWorker(a);
    await stopWorker(b);
    await redis?.destroy();
  }, 60_000);

  /** A socket connected to `worker` that holds `token` in the cluster, as an admitted tab does. */
  async function holder(worker: Worker, token: string): Promise<{ client: ClientSocket; sid: string }> {
    const client = io(`${worker.url}${NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    clients.push(client);
    await until(() => client.connected && worker.namespace.sockets.has(client.id!), 'the holder to connect');
    const sid = client.id!;
    expect(await worker.link.claimToken(token, sid)).toBe(true);
    return { client, sid };
  }

  /** The old tab leaves as a worker sees it: its socket closes, then its record is released (the gateway's leave). */
  async function leave(worker: Worker, token: string, held: { client: ClientSocket; sid: string }): Promise<void> {
    held.client.close();
    await until(() => !worker.namespace.sockets.has(held.sid), 'the server to see the holder leave');
    await worker.link.releaseToken(token, held.sid);
  }

  it('a socket on another worker gets a token whose holder is gone', async () => {
    const token = randomUUID();
    const old = await holder(a, token);
    await leave(a, token, old);
    expect(await b.link.claimToken(token, 'new-socket')).toBe(true);
    expect(await b.connections.commands.get(`rx:socket:{${token}}`)).toBe('new-socket');
  });

  it('a live holder keeps its token: a duplicated tab is refused once the grace has passed', async () => {
    const token = randomUUID();
    await holder(a, token);
    // (That the claim asks again during the grace is the next test's, without depending on how long a try takes.)
    expect(await b.link.claimToken(token, 'duplicate', 300)).toBe(false);
  });

  it('a holder that leaves during the grace hands its token over', async () => {
    const token = randomUUID();
    const old = await holder(a, token);
    const getsBefore = b.gets;
    const claim = b.link.claimToken(token, 'reloaded', 30_000);
    // The first attempt found the holder alive; it leaves while the claim waits to ask again.
    await until(() => b.gets > getsBefore, 'the first attempt');
    await leave(a, token, old);
    expect(await claim).toBe(true);
  });

  it('the holder leaving and releasing its record between the claim reading the record and taking it', async () => {
    const token = randomUUID();
    const old = await holder(a, token);
    // Right after the claim read the record (naming the live holder): the holder's socket closes and its worker
    // deletes the record. The claim then finds the holder gone and the record absent: the token is free.
    b.afterGet = () => leave(a, token, old);
    expect(await b.link.claimToken(token, 'reloaded', 0)).toBe(true);
    expect(await b.connections.commands.get(`rx:socket:{${token}}`)).toBe('reloaded');
  });

  /**
   * Right after `b`'s claim read the record: the holder leaves and a rival socket on `a` takes the token, so the
   * claim's compare-and-set fails. With `rivalLeaves`, the rival leaves too before the claim asks again.
   */
  async function claimAgainstRival(graceMs: number, rivalLeaves: boolean): Promise<{ claimed: boolean; record: string | null; rivalSid: string }> {
    const token = randomUUID();
    const old = await holder(a, token);
    let rival: { client: ClientSocket; sid: string } | undefined;
    b.afterGet = async () => {
      await leave(a, token, old);
      rival = await holder(a, token);
      if (rivalLeaves) b.afterGet = () => leave(a, token, rival!);
    };
    const claimed = await b.link.claimToken(token, 'late', graceMs);
    return { claimed, record: await b.connections.commands.get(`rx:socket:{${token}}`), rivalSid: rival!.sid };
  }

  /** A holder of a new token on `worker` that left while its last events still run there (the record is kept). */
  async function leftWithEventsRunning(worker: Worker): Promise<{ token: string; sid: string }> {
    const token = randomUUID();
    const old = await holder(worker, token);
    worker.busy.add(token);
    old.client.close();
    await until(() => !worker.namespace.sockets.has(old.sid), 'the server to see the holder leave');
    return { token, sid: old.sid };
  }

  it("a holder that left while its worker still runs its events is waited for: the new socket hydrates after them", async () => {
    const { token, sid } = await leftWithEventsRunning(a);
    expect(await b.link.claimToken(token, 'too-soon', 0)).toBe(false);
    const getsBefore = b.gets;
    const claim = b.link.claimToken(token, 'reloaded', 30_000);
    await until(() => b.gets > getsBefore, 'the first attempt');
    // The events ran; the record is released.
    a.busy.delete(token);
    await a.link.releaseToken(token, sid);
    expect(await claim).toBe(true);
    // Asked on the holder's own worker, the same.
    const { token: local } = await leftWithEventsRunning(a);
    expect(await a.link.claimToken(local, 'same-worker', 0)).toBe(false);
    a.busy.delete(local);
    expect(await a.link.claimToken(local, 'same-worker', 0)).toBe(true);
  });

  it("a flood of sockets presenting a live holder's token asks the other workers yes or no, never for the holder's handshake", async () => {
    // fetchSockets() answered with the holder's whole handshake (every header, its cookie among them), published to
    // every worker, once per claim and per retry: 300 bytes of handshake made 170 KB of Redis traffic.
    const token = randomUUID();
    const marker = `marker-${randomUUID()}`;
    const client = io(`${a.url}${NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { 'x-padding': marker.repeat(200) } });
    clients.push(client);
    await until(() => client.connected && a.namespace.sockets.has(client.id!), 'the holder to connect');
    expect(await a.link.claimToken(token, client.id!)).toBe(true);
    const seen: Buffer[] = [];
    const spy = createClient({ url: redis.url });
    await spy.connect();
    await spy.pSubscribe('rx:io*', (message: Buffer) => void seen.push(message), true);
    try {
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => b.link.claimToken(token, `duplicate-${i}`, 300)));
      expect(claims.every((claimed) => claimed === false)).toBe(true);
      // The holder's own worker knows without asking anyone.
      expect(await a.link.claimToken(token, 'duplicate-on-a', 0)).toBe(false);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((message) => message.includes(marker))).toEqual([]);
    } finally {
      await spy.quit();
    }
  });

  it('a worker of an earlier version, which does not know the yes-or-no question, is asked the old way (a rolling deploy)', async () => {
    const old = await startWorker(redis.url);
    old.namespace.removeAllListeners('rx:holder-alive');
    try {
      await until(async () => (await a.connections.commands.sendCommand(['PUBSUB', 'NUMSUB', 'rx:io-request#/_event#']) as unknown[])[1] === 3, 'the third adapter to subscribe');
      // Its socket held the token and is gone, its record left behind (as when that worker was stopped).
      const token = randomUUID();
      const gone = await holder(old, token);
      gone.client.close();
      await until(() => !old.namespace.sockets.has(gone.sid), 'the old worker to see its socket leave');
      expect(await b.link.claimToken(token, 'after-deploy', 0)).toBe(true);
      // A live holder there is still seen alive.
      const live = randomUUID();
      await holder(old, live);
      expect(await b.link.claimToken(live, 'duplicate', 0)).toBe(false);
    } finally {
      await stopWorker(old);
    }
    await until(async () => (await a.connections.commands.sendCommand(['PUBSUB', 'NUMSUB', 'rx:io-request#/_event#']) as unknown[])[1] === 2, 'the third adapter to leave');
  }, 30_000);

  it('another socket that took the record meanwhile and stays keeps it', async () => {
    const { claimed, record, rivalSid } = await claimAgainstRival(300, false);
    expect({ claimed, record }).toEqual({ claimed: false, record: rivalSid });
  });

  it('another socket that took the record meanwhile and leaves within the grace hands it over', async () => {
    // The claim, having lost the compare-and-set, asks again: by then the rival left too.
    const { claimed, record } = await claimAgainstRival(30_000, true);
    expect({ claimed, record }).toEqual({ claimed: true, record: 'late' });
  });

  it('a frozen Redis (SIGSTOP) refuses a claim within bounded time, instead of holding the new socket until Redis answers', async () => {
    const token = randomUUID();
    redis.pause();
    let answer: boolean | 'still waiting';
    const started = Date.now();
    try {
      answer = await answerWithin(b.link.claimToken(token, 'during-freeze', 0), 15_000);
    } finally {
      redis.resume();
    }
    // Fails closed (a new token for that socket), as when Redis is down.
    expect(answer).toBe(false);
    expect(Date.now() - started).toBeLessThan(15_000);
    // Back to normal once Redis answers.
    await a.connections.commands.ping();
    expect(await b.link.claimToken(token, 'after-freeze', 0)).toBe(true);
  }, 40_000);

  it('Redis freezing while the claim asks whether the holder lives: refused within bounded time', async () => {
    const token = randomUUID();
    await holder(a, token);
    // Right after b read the record: the question to the other workers starts by counting them in Redis.
    b.afterGet = () => {
      redis.pause();
      return Promise.resolve();
    };
    let answer: boolean | 'still waiting';
    try {
      answer = await answerWithin(b.link.claimToken(token, 'during-freeze', 0), 20_000);
    } finally {
      redis.resume();
    }
    expect(answer).toBe(false);
    await a.connections.commands.ping();
  }, 40_000);

  it('Redis down: the refused claims of every new socket are logged once for the outage, then counted when Redis is back', async () => {
    const lines: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      // A claim Redis answers first: the outage of an earlier test (if it left one open) ends before this one.
      await until(async () => b.link.claimToken(randomUUID(), 'before-outage', 0), 'a claim to succeed');
      lines.length = 0;
      await redis.stop();
      // Every tab reconnecting during the outage: each gets a new token (fails closed), as before.
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => b.link.claimToken(randomUUID(), `during-outage-${i}`, 0)));
      expect(answers.every((answer) => answer === false)).toBe(true);
      expect(lines.filter((line) => /token records/.test(line))).toHaveLength(1);
      await redis.start();
      await until(async () => b.link.claimToken(randomUUID(), 'after-outage', 0), 'claims to work again');
      expect(lines.filter((line) => /token records/.test(line)).at(-1)).toMatch(/answers again; \d+ operations failed/);
    } finally {
      warn.mockRestore();
      if (!redis.running) await redis.start();
    }
  }, 60_000);
});

import type { Logger } from '@nestjs/common';
import type { Namespace } from 'socket.io';
import type * as RedisAdapter from '@socket.io/redis-adapter';
import type { createAdapter as createRedisAdapter, createShardedAdapter as createShardedRedisAdapter } from '@socket.io/redis-adapter';
import type { RedisConnections } from '../common/redis-connections.js';
import { DEADLINE_PASSED, withinDeadline } from '../common/deadline.js';
import { OutageLog } from '../common/outage-log.js';
import { isSingleProcessAdapter } from './single-process-adapter.js';
import { requestResync, TokenResync, type ResyncTarget } from './token-resync.js';

/**
 * Takes the token's socket record for ARGV[2] only if it still holds ARGV[1], the holder judged gone (empty: none),
 * or is absent: two sockets that both found the previous holder dead cannot both win. Absent counts as free: the
 * holder judged gone may have released its record (on leaving) between the judgement and this script.
 */
const CLAIM_SCRIPT =
  "local current = redis.call('GET', KEYS[1]) if current and current ~= ARGV[1] and current ~= ARGV[2] then return 0 end " +
  "redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3])) return 1";

/**
 * How often a token held by a live socket elsewhere is asked for again while a reload's grace lasts: after 100 ms,
 * then doubling up to 800 ms (five asks in a 2 s grace instead of up to twenty).
 */
const CLAIM_RETRY_MS = 100;
const CLAIM_RETRY_MAX_MS = 800;

/**
 * Milliseconds a token record's command may take (the adapter's `requestsTimeout` too). Redis down fails at once, but
 * a Redis that is connected and does not answer (paused, overloaded) would otherwise hold every new socket's admission
 * until it answers: the socket is not read meanwhile, and its tab shows nothing.
 */
const RECORD_COMMAND_TIMEOUT_MS = 2_000;

/** Server-side question "is socket <sid> connected to you?", answered by every worker with a boolean. */
const HOLDER_ALIVE = 'rx:holder-alive';

/** Deletes the token's socket record only if it still names this socket (a newer one may have taken over). */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * What several workers share through Redis: the Socket.IO Redis adapter (so any worker reaches any socket,
 * and server-side messages reach every worker) and the record of which socket holds each client token.
 *
 * Reflex keeps a token's socket record until it expires, so a client whose worker died gets a new token
 * (and loses its state) when it reconnects elsewhere. Here a record only counts while its socket is alive
 * somewhere in the cluster (asked through the adapter), or its worker still runs the events it sent before it left,
 * so only a genuinely duplicated tab gets `new_token`, and a reloaded tab's new socket hydrates after its old
 * socket's last events.
 */
export class ClusterLink {
  private namespace?: Namespace;
  /** The liveness question under way per holder (see {@link holderAlive}). */
  private readonly asking = new Map<string, Promise<boolean>>();
  /** Whether this worker still runs work of a token (see {@link attach}). */
  private isBusy: (token: string) => boolean = () => false;
  /**
   * Claims refused because Redis (or the other workers) did not answer, logged once per outage: while Redis is down
   * every reconnecting tab's claim fails, and a line each would bury the log.
   */
  private readonly claimOutage: OutageLog;

  private constructor(
    private readonly connections: RedisConnections,
    private readonly createAdapter: typeof createRedisAdapter,
    private readonly createShardedAdapter: typeof createShardedRedisAdapter,
    private readonly recordTtlSeconds: number,
    private readonly logger: Logger,
  ) {
    this.claimOutage = new OutageLog(logger, 'The token records (Redis, asked whether a reconnecting tab\'s token is free; refused claims get a new token)');
  }

  /**
   * A link over the worker's shared Redis connections (which it never closes: {@link RedisConnections} does). Made
   * while the module's providers are built: Nest creates gateways before any `onModuleInit`, and the gateway
   * installs the adapter synchronously once its namespace exists.
   */
  static async create(connections: RedisConnections, recordTtlSeconds: number, logger: Logger): Promise<ClusterLink> {
    // An optional peer: loaded only when the app runs several workers.
    let adapter: typeof RedisAdapter;
    try {
      adapter = await import('@socket.io/redis-adapter');
    } catch (error) {
      throw new Error('redisUrl and redisCluster need the "@socket.io/redis-adapter" package (8.x): npm install @socket.io/redis-adapter', { cause: error });
    }
    const { createAdapter, createShardedAdapter } = adapter;
    // node-redis's cluster client routes a subscription by the cluster's layout, which it learns on connecting (a
    // one-node client queues subscriptions instead): the sharded adapter subscribes as soon as it is installed.
    if (connections.isCluster) await connections.clusterSubscriber!.connect();
    return new ClusterLink(connections, createAdapter, createShardedAdapter, recordTtlSeconds, logger);
  }

  /**
   * Links the event namespace to the cluster: installs the Socket.IO Redis adapter on its server, unless the app
   * installed a cluster adapter of its own (`app.useWebSocketAdapter` with, for example, Nest's Redis adapter
   * recipe), which then carries the cross-worker traffic instead. With `resync`, the tabs that missed a broadcast of
   * its adapter (dropped, or unheard by a cut-off subscriber) are sent their states again (see {@link TokenResync}).
   */
  attach(namespace: Namespace, isBusy: (token: string) => boolean = () => false, resync?: ResyncTarget): void {
    this.namespace = namespace;
    this.isBusy = isBusy;
    // A tiny yes/no per worker, instead of fetchSockets(), whose answer carries the holder's whole handshake.
    namespace.on(HOLDER_ALIVE, (sid: unknown, token: unknown, answer: unknown) => {
      if (typeof answer === 'function') answer(typeof sid === 'string' && typeof token === 'string' && this.holds(sid, token));
    });
    if (!isSingleProcessAdapter(namespace.adapter)) {
      this.logger.log('The app installed a cluster adapter for Socket.IO: /_event uses it.');
      return;
    }
    const { pub, sub, sharded } = this.connections.adapterClients();
    namespace.server.adapter(
      sharded
        ? // A Redis Cluster: sharded pub/sub (Redis 7), each channel on one shard instead of every message on every
          // node; 'dynamic': a public room gets a channel of its own, so rooms spread over the shards too.
          this.createShardedAdapter(pub, sub, { channelPrefix: 'rx:io', subscriptionMode: 'dynamic' })
        : this.createAdapter(pub, sub, { key: 'rx:io', requestsTimeout: 2000 }),
    );
    if (resync) new TokenResync(this.connections, resync, this.logger);
  }

  /**
   * For a process without a Socket.IO server (an application context): asks the worker holding `token`'s tab to send
   * it its states as stored, once a change to them was committed. Never rejects: a message Redis refused is logged
   * (the tab shows the change at its next hydrate or change).
   */
  requestResync(token: string): void {
    requestResync(this.connections, token).catch((error: unknown) =>
      this.logger.warn(`Could not ask the worker holding a tab to show it a change made here: ${(error as Error)?.message ?? String(error)}`),
    );
  }

  /**
   * Claims `token` for socket `sid`. Returns false when another live socket anywhere holds it after `graceMs`
   * (a duplicated tab: the caller issues a new token; a reloaded tab's old socket leaves within it). A record left
   * by a dead socket or worker is taken over.
   *
   * Fails closed: when the holder's liveness cannot be established (the cluster-wide check timed out because
   * a worker is frozen or overloaded, or Redis is down), the answer is false at once; when another socket took
   * the record meanwhile and still holds it after `graceMs`, too. A live token is never shared; the cost of a
   * wrong "no" is a fresh state for that tab.
   */
  async claimToken(token: string, sid: string, graceMs = 0): Promise<boolean> {
    // A live holder may be a reloaded tab's old socket, about to close: asked again until `graceMs` has passed.
    const deadline = Date.now() + graceMs;
    let retryMs = CLAIM_RETRY_MS;
    for (;;) {
      const outcome = await this.tryClaim(token, sid);
      if (outcome === 'claimed' || outcome === 'refused' || Date.now() >= deadline) return outcome === 'claimed';
      await new Promise((resolve) => setTimeout(resolve, Math.min(retryMs, Math.max(0, deadline - Date.now()))));
      retryMs = Math.min(retryMs * 2, CLAIM_RETRY_MAX_MS);
    }
  }

  /**
   * One attempt: 'held' when a live socket holds the token, 'taken' when another socket took the record while this
   * one judged the previous holder (asked again within the grace: the new holder may be gone by then), 'refused'
   * when Redis or the cluster could not answer (fails closed at once).
   */
  private async tryClaim(token: string, sid: string): Promise<'claimed' | 'held' | 'taken' | 'refused'> {
    const key = this.recordKey(token);
    try {
      const holder = await withinDeadline(this.connections.commands.get(key), RECORD_COMMAND_TIMEOUT_MS);
      // The adapter's own timeout starts only once Redis counted the workers (PUBSUB NUMSUB), which a frozen Redis
      // never does: the question (asked a second way on timeout, see askAlive) gets two adapter timeouts and ours.
      if (holder && holder !== sid && (await withinDeadline(this.holderAlive(holder, token), 3 * RECORD_COMMAND_TIMEOUT_MS))) {
        this.claimOutage.succeeded();
        return 'held';
      }
      // Compare and set: only if the record still names the holder we judged (or is still absent).
      const claiming = this.connections.commands.eval(CLAIM_SCRIPT, { keys: [key], arguments: [holder ?? '', sid, String(this.recordTtlSeconds)] });
      const claimed = await withinDeadline(claiming, RECORD_COMMAND_TIMEOUT_MS).catch((error: unknown) => {
        // Refused, yet Redis may still run it: a record naming this socket, which gets a new token, would make the
        // token's own tab look duplicated until this socket leaves. Let it go once the answer comes.
        if (error === DEADLINE_PASSED) {
          claiming.then(
            (late) => {
              if (late === 1) void this.releaseToken(token, sid);
            },
            () => undefined,
          );
        }
        throw error;
      });
      this.claimOutage.succeeded();
      return claimed === 1 ? 'claimed' : 'taken';
    } catch (error) {
      this.claimOutage.failed(error === DEADLINE_PASSED ? new Error('Redis or the other workers did not answer in time') : error);
      return 'refused';
    }
  }

  /**
   * Whether socket `holder` is alive on some worker. The cluster-wide question rejects after the adapter's
   * `requestsTimeout` when a worker does not answer (frozen, very busy, or of an earlier version that does not know
   * the question, during a rolling deploy): asked once more the way every version answers (`fetchSockets`, whose
   * answers carry the holder's handshake), then the rejection reaches the caller, which fails closed.
   */
  private holderAlive(holder: string, token: string): Promise<boolean> {
    // One question per holder at a time on this worker: every socket presenting the same token (a flood of
    // duplicated tabs) shares the answer instead of asking the whole cluster again.
    let asking = this.asking.get(holder);
    if (!asking) {
      asking = this.askAlive(holder, token).finally(() => this.asking.delete(holder));
      this.asking.set(holder, asking);
    }
    return asking;
  }

  /** Whether `holder` is connected to this worker or, asked through the adapter, to another one. */
  private async askAlive(holder: string, token: string): Promise<boolean> {
    const namespace = this.namespace!;
    if (this.holds(holder, token)) return true;
    try {
      const answers: unknown[] = await namespace.serverSideEmitWithAck(HOLDER_ALIVE, holder, token);
      return answers.some((alive) => alive === true);
    } catch {
      return (await namespace.in(holder).fetchSockets()).length > 0;
    }
  }

  /**
   * Whether socket `sid` holds `token` on this worker: connected, or gone with events of the token still running here
   * (its record is released once they ran, see the gateway's `leave`). A new socket waits for those within its grace.
   */
  private holds(sid: string, token: string): boolean {
    return this.namespace!.sockets.has(sid) || this.isBusy(token);
  }

  /** Records a token the caller just generated (nobody else can hold it); a failure is harmless. */
  async recordNewToken(token: string, sid: string): Promise<void> {
    await withinDeadline(this.connections.commands.set(this.recordKey(token), sid, { EX: this.recordTtlSeconds }), RECORD_COMMAND_TIMEOUT_MS).catch(() => undefined);
  }

  /** Forgets the token's record if it still names `sid`. */
  async releaseToken(token: string, sid: string): Promise<void> {
    await this.connections.commands.eval(RELEASE_SCRIPT, { keys: [this.recordKey(token)], arguments: [sid] }).catch(() => undefined);
  }

  private recordKey(token: string): string {
    return tokenRecordKey(token);
  }
}

/**
 * The Redis key of a connected token's record (the socket holding it), which exists while a tab holds the token.
 * Hash-tagged by token, like every per-token key: on a Redis Cluster it lives in the token's slot.
 */
export function tokenRecordKey(token: string): string {
  return `rx:socket:{${token}}`;
}

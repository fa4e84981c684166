import { randomUUID } from 'node:crypto';
import { Logger, type LoggerService } from '@nestjs/common';
import { ACQUIRE_SCRIPT, DELETE_SCRIPT, LEAVE_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT, SAVE_SCRIPT, saveHeader, type RedisLockScript } from './redis-lock.scripts.js';
import { UnconfirmedWritesLog } from './unconfirmed-writes-log.js';
import { StateStoreError } from './state-store.error.js';
import { LockLostError, StateStore, type SaveOptions, type StateLease, type StoredState } from './state-store.js';
import { knownOptions, positiveOption, positiveTimerOption, redactUrl } from '../../common/connection-options.js';
import { RedisConnections, type RedisClient } from '../../common/redis-connections.js';
import type { RedisClusterClient } from '../../common/redis-cluster.client.js';
import { DEADLINE_PASSED, withinDeadline } from '../../common/deadline.js';
import { DeadlineQueue } from '../../common/deadline-queue.js';
import { isNotSent, isQueueFull, isRefusedBeforeWriting } from '../../common/fail-fast-redis.options.js';
import { OutageLog } from '../../common/outage-log.js';
import { subscribeUntilAccepted } from '../../common/subscribe-until-accepted.js';
import { RedisStateLease, type RedisLeaseHost } from './redis-state.lease.js';
import { RedisSaveQueue, saveCommand } from './redis-save-queue.js';
import { PendingSave, type PendingSaveHost } from './redis-pending-save.js';
import { readRedisMemory, RedisMemoryGuard, type GuardedRedisServer } from './redis-memory-guard.js';

/** How Redis bounds its memory, and the store's own limit: {@link RedisStateStore.memorySettings}. */
export interface RedisMemorySettings {
  /** The one Redis, or each master of a Redis Cluster. */
  readonly servers: readonly {
    /** The store's URL (without credentials) for one Redis; a master's `host:port` on a cluster. */
    readonly name: string;
    /** Its `maxmemory`, in bytes; 0 when it has none (it then grows until the host runs out). */
    readonly maxmemory: number;
    /** Its `maxmemory-policy`: `noeviction`, or a policy that evicts keys when full. */
    readonly policy: string;
  }[];
  /** The store's `memoryLimitBytes`. */
  readonly limitBytes: number | 'auto' | false;
}

/** Options of {@link RedisStateStore}. */
export interface RedisStateStoreOptions {
  /**
   * Redis URL, e.g. `redis://localhost:6379` or `rediss://user:pass@host:6380/0`: the store opens its own two
   * connections (named `rx:state:commands` and `rx:state:subscriber`) and closes them in `close()`. Give either
   * `url` or `connections`.
   */
  url?: string;
  /**
   * Shared connections to use instead of opening its own (what the module does with `redisUrl`): commands go on
   * `connections.commands`, lock-release notifications on `connections.subscriber`. The store never closes them.
   * Connections to a Redis Cluster work too: a token's keys share its slot, its release channel is sharded, and
   * state writes wait for replicas (`waitReplicas` of the connections' `cluster` options).
   */
  connections?: RedisConnections;
  /**
   * Prefix of every key and channel the store uses. Give each app (or environment) sharing a Redis its own.
   * A token's state lives at `<prefix>v2:{<token>}` (a hash, one field per state), its lock at
   * `<prefix>v2:{<token>}:lock`. (`v2`: the layout version; states of the earlier layout, one JSON string at
   * `<prefix>{<token>}`, are ignored and expire by themselves.)
   * @default 'rx:state:'
   */
  keyPrefix?: string;
  /** Seconds an idle token's state is kept (renewed by every acquire and save). May be fractional. @default 3600 */
  ttlSeconds?: number;
  /**
   * Seconds an idle provisional state (saved with `provisional`, see {@link SaveOptions}) is kept. May be fractional.
   * @default 120
   */
  unusedTtlSeconds?: number;
  /**
   * Milliseconds a lock lives. A holder that takes longer (or dies) loses it to the next waiter, and its later
   * saves are refused with {@link LockLostError}.
   * @default 10_000
   */
  lockTimeoutMs?: number;
  /** A warning is logged when a lock was held longer than this many milliseconds. @default 1_000 */
  lockWarningMs?: number;
  /**
   * Milliseconds a released lock is kept by this process, with the state it saved, in case the same token's next
   * event comes soon: that event then needs no lock round trip and no state read (the lock is still in Redis and
   * every save is fenced by it, so no other process can have written meanwhile). Another process that wants the
   * lock tells the holder through Redis, and gets it at once. A kept lock is given back and taken again at least
   * every `pollIntervalMs` (and half `lockTimeoutMs`), even while events keep coming. The price: a process that dies keeps, until
   * `lockTimeoutMs`, the locks of the tokens it served in its last `lockLingerMs` (not only of those it was
   * serving). `0`: every release gives the lock back at once.
   * @default 50
   */
  lockLingerMs?: number;
  /**
   * Milliseconds `acquire` waits for a busy lock (queue included) before rejecting with a {@link StateStoreError}
   * of code `timeout`.
   * @default 3 × lockTimeoutMs (30_000)
   */
  acquireTimeoutMs?: number;
  /**
   * Milliseconds one Redis command, or the first connection, may take before the operation rejects with a
   * {@link StateStoreError} (code `timeout`, or `unavailable` for the connection).
   * @default 5_000
   */
  commandTimeoutMs?: number;
  /**
   * Safety net for lost wake-ups: a waiter re-checks a busy lock at least this often, even without a release
   * notification (it also re-checks the moment the holder's lock expires).
   * @default 1_000
   */
  pollIntervalMs?: number;
  /**
   * Upper bound of the delay between reconnection attempts after a lost connection (exponential backoff from
   * 50 ms with jitter). Reconnection never gives up until `close()`. Only for the store's own connections (`url`).
   * @default 2_000
   */
  maxReconnectDelayMs?: number;
  /**
   * Redis's used memory, in bytes, above which the store drops states nobody is using (provisional ones first, then
   * those used longest ago; never one under a lock, nor one `openTabKey` keeps) until Redis uses 90% of it.
   * `'auto'`: 80% of Redis's `maxmemory`, and nothing while Redis has none. `false`: never. Checked every
   * `memoryCheckIntervalMs` with `INFO memory`; one worker at a time sweeps. On a Redis Cluster, each master is read,
   * held to the limit (`'auto'`: 80% of its own `maxmemory`) and swept on its own.
   * @default 'auto'
   */
  memoryLimitBytes?: number | 'auto' | false;
  /** Milliseconds between two readings of Redis's used memory for `memoryLimitBytes`. @default 1_000 */
  memoryCheckIntervalMs?: number;
  /**
   * The Redis key that exists while a tab holds a token (the module passes its token records, `rx:socket:{<token>}`):
   * the state of such a token is never dropped over `memoryLimitBytes`, as the in-memory store keeps an open tab's.
   * Without it, only a lock keeps a state.
   */
  openTabKey?: (token: string) => string;
  /** Where warnings go. @default new Logger('ReflexBridge') */
  logger?: LoggerService;
}

/** The keys of {@link RedisStateStoreOptions}: any other is refused. */
const REDIS_STATE_STORE_OPTIONS: readonly (keyof RedisStateStoreOptions)[] = [
  'url',
  'connections',
  'keyPrefix',
  'ttlSeconds',
  'unusedTtlSeconds',
  'lockTimeoutMs',
  'lockWarningMs',
  'lockLingerMs',
  'acquireTimeoutMs',
  'commandTimeoutMs',
  'pollIntervalMs',
  'maxReconnectDelayMs',
  'memoryLimitBytes',
  'memoryCheckIntervalMs',
  'openTabKey',
  'logger',
];

/** Redis names of one token. The `{token}` hash tag keeps the lock and the state in one Redis Cluster slot. */
interface TokenKeys {
  /** Hash: one field per state (full name → JSON), plus {@link STORED_MARK}. */
  state: string;
  lock: string;
  /** Pub/sub channel announcing releases of this token's lock. */
  channel: string;
  /** Callers (one per process) waiting for the lock, by first arrival; and when each registration lapses. */
  waiters: string;
  lapses: string;
}

/** One caller waiting in a token's local queue. */
class Waiter {
  /** The id this caller may be registered under in the token's waiting queue in Redis. */
  registeredAs?: string;
  private pending = false;
  private resolve?: () => void;
  private timer?: NodeJS.Timeout;

  /** Ends the current {@link wait}, or makes the next one return at once, so a wake-up is never lost. */
  wake(): void {
    const resolve = this.resolve;
    if (!resolve) {
      this.pending = true;
      return;
    }
    this.clear();
    resolve();
  }

  /** Forgets wake-ups received so far (called right before looking at the lock again). */
  reset(): void {
    this.pending = false;
  }

  /** Resolves when woken, or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => {
        this.clear();
        resolve();
      }, Math.max(0, ms));
    });
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.resolve = undefined;
  }
}

/** This process's callers for one token, in arrival order; only the first one competes for the Redis lock. */
interface TokenQueue {
  readonly waiters: Waiter[];
  /** Our listener on the token's release channel, while subscribed (or subscribing). */
  listener?: (message: string) => void;
}

type AcquireReply = [1, string[], number] | [0, number, string];

/**
 * A lock this process holds: in use by a lease, or kept after its release (see `lockLingerMs`) together with the
 * state it knows to be in Redis.
 */
interface HeldLock {
  readonly token: string;
  readonly keys: TokenKeys;
  readonly value: string;
  /** What Redis holds for the token, as far as this holder knows (what it loaded, then what it saved). */
  state: StoredState | null;
  /** The size `state` was saved with by this holder, when the saver measured it; `undefined` for a loaded state. */
  stateSize: number | undefined;
  /**
   * Local clock when the command that took (or last renewed) the lock was sent: the lock lives at least until
   * + lockTimeoutMs.
   */
  takenAt: number;
  /** When the current lease started. */
  acquiredAt: number;
  /** Connection generation it was taken on: a lost connection may have lost the lock too (a restarted Redis). */
  readonly epoch: number;
  /** Another process waits for the lock (registered when it was taken, or asked since), or deleted the state: give it back at the next release. */
  wanted: boolean;
  /** A save failed or its outcome is unknown: what Redis holds is uncertain, so the lock is not kept. */
  uncertain: boolean;
  /** When its last lease was released (it is kept until `lockLingerMs` after that). */
  parkedAt: number;
  /** Its lease in use, if any; without one, a lock still in the store's `locks` is kept (parked) for the next event. */
  lease?: RedisStateLease<HeldLock>;
  /** Ends the linger; one per lock, armed when it is first parked and re-armed only from its own callback. */
  timer?: NodeJS.Timeout;
}

/** Hash field present in every stored state, so that even an empty state exists. Never a state's full name. */
const STORED_MARK = '#';

const short = (token: string) => `${token.slice(0, 8)}…`;
/** The server does not know a script sent by its SHA1 (first use, or after a restart or SCRIPT FLUSH). */
const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith('NOSCRIPT');
/** Rejection of the store's internal timeouts; turned into a {@link StateStoreError} before it leaves the store. */
const noop = () => undefined;
/** The logger of the store's own connections: the store reports their outages itself, in its own words. */

/**
 * Keeps client states in Redis (node-redis 5 or 6), so that several workers share them.
 *
 * - **State**: one hash per token, one field per state holding its vars as JSON (readable from any language),
 *   expiring after `ttlSeconds` without use. A save writes only the states an event changed.
 * - **Lock**: `SET lock <unique value> NX PX lockTimeoutMs`, taken together with the state read in one Lua script.
 *   Release is a compare-and-delete, so an expired holder never deletes its successor's lock.
 * - **Fencing**: every save is a Lua script that writes only while the lock still holds the saver's value (and
 *   renews it); otherwise it rejects with {@link LockLostError}, so a worker whose lock expired never overwrites
 *   newer state.
 * - **Group commit**: while a save is in flight, saves of other tokens wait and go together in the next call of
 *   the save script, each fenced by its own lock and answered on its own (one Redis; on a Redis Cluster each
 *   token's save is its own call).
 * - **Keeping the lock between events** (`lockLingerMs`): a released lock stays with this process for a moment,
 *   with the state it saved. The token's next event here then takes it synchronously ({@link tryAcquireSync}):
 *   one round trip per event (the fenced save) instead of three. A waiter on another process announces itself
 *   through the holder's owner channel (the acquire script publishes it), and the kept lock goes back at once.
 * - **Waiting**: callers of one process queue per token (FIFO, only the head competes in Redis, so local callers
 *   never barge past each other). The release script PUBLISHes on the token's channel; a head waiting for a holder
 *   on another process SUBSCRIBEs to it (second connection) and retries at once when it fires. Without a
 *   notification it retries when the holder's lock expires (a dead holder's lock is taken over) and at least every
 *   `pollIntervalMs`.
 * - **Fairness across processes** is best effort: heads that found the lock busy register in a per-token queue in
 *   Redis, and a free lock goes to the oldest registration, so a process that keeps releasing and re-acquiring
 *   cannot starve another process's waiter (without this, its retry always arrives first). Registrations lapse
 *   after 3 × `pollIntervalMs` without renewal, so a waiter that died holds up a free lock for at most that long;
 *   one that lost its place (slow Redis, lost connection) registers again at the back.
 * - **Redis down**: commands are not queued while disconnected (`disableOfflineQueue`), so `acquire`, `save`,
 *   `read` and `delete` reject at once with a {@link StateStoreError} (`unavailable`), and after
 *   `commandTimeoutMs` when Redis does not answer (`timeout`); queued callers are woken and rejected too. node-redis
 *   reconnects in the background, and the same store works again once Redis is back.
 *
 * Connects on first use; call {@link connect} at startup to fail early on a wrong URL. {@link close} releases the
 * locks still held and ends the store's own connections; shared ones (`connections`) stay open for their owner.
 * @publicApi
 */
export class RedisStateStore extends StateStore {
  /** The key prefix used when none is given. */
  static readonly DEFAULT_KEY_PREFIX = 'rx:state:';

  private readonly url?: string;
  private readonly shared?: RedisConnections;
  private readonly safeUrl: string;
  private readonly keyPrefix: string;
  private readonly ttlMs: number;
  private readonly unusedTtlMs: number;
  private readonly lockTimeoutMs: number;
  private readonly lockWarningMs: number;
  private readonly lockLingerMs: number;
  /** How long after its last renewal a kept lock may still be used (see `trusted`). */
  private readonly keepForMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly maxReconnectDelayMs: number;
  /**
   * How long a waiting caller's registration lasts without renewal. It renews at every attempt, so at least once per
   * poll interval; a caller that died blocks a free lock for at most this long.
   */
  private readonly registrationMs: number;
  private readonly logger: LoggerService;
  /** Drops unused states when Redis's memory passes `memoryLimitBytes` (absent when it is `false`). */
  private readonly memoryGuard?: RedisMemoryGuard;
  /** `memoryLimitBytes` as given (or its default). */
  private readonly memoryLimit: number | 'auto' | false;
  /** On a Redis Cluster, the masters whose writes `waitReplicas` replicas do not confirm (created on the first). */
  private unconfirmedWrites?: UnconfirmedWritesLog;
  /**
   * Failed lock releases, logged once per outage: while Redis is down or frozen every event's release fails, and the
   * event's own error already tells its client.
   */
  private readonly releaseOutage: OutageLog;
  /** Start of every lock value this store writes: tells our own locks and notifications from other stores'. */
  private readonly ownerPrefix = `${randomUUID()}:`;
  private sequence = 0;
  private readonly queues = new Map<string, TokenQueue>();
  /**
   * The locks this process holds, by token: in use (with their lease) or kept between events (parked, see
   * `lockLingerMs`). One map whose entry stays while a token's events follow each other, rather than a map of leases
   * and one of kept locks that each gained and lost the token at every event.
   */
  private readonly locks = new Map<string, HeldLock>();
  /** What the store's leases call back into. */
  private readonly leaseHost: RedisLeaseHost<HeldLock> = {
    save: (held, next, options) => this.save(held, next, options),
    renew: (held) => this.renew(held),
    release: (lease) => this.release(lease),
  };
  /** What the store's pending saves call back into. */
  private readonly saveHost: PendingSaveHost<HeldLock> = {
    send: (save) => this.sendSave(save),
    wholeArguments: (save) => this.saveArguments(save.held, save.next, save.ttl, true),
    unknownOutcome: (error) => {
      // Sent and no answer within commandTimeoutMs: Redis is frozen or far behind (see `unanswered`).
      if (error === DEADLINE_PASSED) this.awaitAnswerAfterStall();
      if (isQueueFull(error)) return this.backlogged('save a state', error);
      if (isNotSent(error)) return this.notSent('save a state', error);
      // Answered with an error that refused the write (READONLY, OOM, ...): certainly not written, so the client may
      // simply try again rather than reload.
      if (isRefusedBeforeWriting(error)) return this.refusedWrite('save a state', error);
      return this.unknownOutcome('save a state', error);
    },
    offline: () => this.offline('save a state'),
    withdraw: (save) => this.saves.withdraw(save),
    unsent: () =>
      new StateStoreError('timeout', `RedisStateStore: ${this.safeUrl} did not answer within ${this.commandTimeoutMs} ms; a state save waiting behind the unanswered ones was not sent.`),
  };
  /** Time limits of the saves in flight, watched by one timer (see {@link save}). */
  private readonly saveDeadlines: DeadlineQueue;
  /** Saves on a single Redis: several tokens' saves share one script call while one is in flight. */
  private readonly saves = new RedisSaveQueue(() => this.commands);
  /** `ttlMs` and `unusedTtlMs` as command arguments, made once rather than per save. */
  private readonly ttlArgument: string;
  private readonly unusedTtlArgument: string;
  /** Channel on which other processes ask this one for a lock it holds (and `delete` tells it to forget a state). */
  private ownerChannel = '';
  private readonly ownerChannelPrefix: string;
  private readonly onOwnerMessage = (token: string) => this.wanted(token);
  /**
   * Settles once Redis answered the first subscription to {@link ownerChannel} (accepted, or refused: then it is asked
   * for again in the background), or the store closed: {@link connect} and {@link whenReady} wait for it.
   */
  private ownerChannelAnswered?: Promise<void>;
  private answerOwnerChannel?: () => void;
  /** Bumped by every lost command connection: locks kept from before are not trusted after it. */
  private epoch = 0;
  /** Locks whose release failed (Redis unreachable), by lock value: given back as soon as the connection is ready. */
  private readonly unreleased = new Map<string, { token: string; keys: TokenKeys; expiresAt: number }>();
  private starting?: Promise<void>;
  /** Settles with the command connection's first success or failure. */
  private firstConnection?: Promise<void>;
  private closing?: Promise<void>;
  private closed = false;
  private commands?: RedisClient;
  private subscriber?: RedisClient;
  /**
   * On a Redis Cluster (shared connections to one): the same connections with their cluster type. Scripts are then
   * sent in their cluster form (sharded publishes), state writes wait for replicas, and token channels are sharded.
   */
  private cluster?: RedisClusterClient;
  private clusterSubscriber?: RedisClusterClient;
  /** The connections in use (shared or the store's own), once started. */
  private connections?: RedisConnections;
  /** Our listeners on the connections, removed at close: shared connections outlive the store. */
  private readonly listeners: { client: RedisClient; event: 'error' | 'ready'; listener: (error: Error) => void }[] = [];
  /**
   * Commands that outlived their deadline (a lock acquisition, a save, a read, ...) and that Redis has not answered
   * yet. While one is, Redis is frozen or far behind (a stopped process, a fork stall, a network black hole keep the
   * connection open): the next acquisitions, reads and saves are refused at once, sent nothing, instead of each event
   * waiting `commandTimeoutMs` in turn (a tab's queued events took 5 s each, 100 s for 20 clicks; a save or a read
   * that timed out made the next event wait 5 s more). Not on a Redis Cluster, where one frozen master must not fail
   * the tokens of the others.
   */
  private unanswered = 0;
  /** Lock give-backs sent and not yet answered: `close()` waits for them (see {@link giveBack}). */
  private readonly givingBack = new Set<Promise<void>>();
  /** A PING sent after a save timed out is still unanswered (see `awaitAnswerAfterStall`). */
  private pinging = false;
  /** Set by a connection error on the command connection, cleared when it is ready again. */
  private down?: string;
  private subscriberDown = false;

  /** @param options see {@link RedisStateStoreOptions}. */
  constructor(options: RedisStateStoreOptions) {
    super();
    if (options?.connections !== undefined) {
      if (!(options.connections instanceof RedisConnections)) throw new TypeError('RedisStateStore: "connections" must be a RedisConnections');
      if (options.url !== undefined) throw new TypeError('RedisStateStore: give either "url" or "connections", not both');
    } else if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisStateStore: "url" must be a Redis URL such as redis://localhost:6379');
    }
    knownOptions('RedisStateStore', options, REDIS_STATE_STORE_OPTIONS);
    const keyPrefix = options.keyPrefix ?? RedisStateStore.DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== 'string') throw new TypeError('RedisStateStore: "keyPrefix" must be a string');
    this.url = options.url;
    this.shared = options.connections;
    this.safeUrl = options.connections?.safeUrl ?? redactUrl(options.url!);
    this.keyPrefix = keyPrefix;
    this.ttlMs = Math.max(1, Math.round(positiveOption('RedisStateStore', 'ttlSeconds', options.ttlSeconds, 3600) * 1000));
    this.unusedTtlMs = Math.min(this.ttlMs, Math.max(1, Math.round(positiveOption('RedisStateStore', 'unusedTtlSeconds', options.unusedTtlSeconds, 120) * 1000)));
    this.lockTimeoutMs = Math.max(1, Math.round(positiveTimerOption('RedisStateStore', 'lockTimeoutMs', options.lockTimeoutMs, 10_000)));
    this.lockWarningMs = positiveTimerOption('RedisStateStore', 'lockWarningMs', options.lockWarningMs, 1_000);
    this.lockLingerMs = options.lockLingerMs === 0 ? 0 : positiveTimerOption('RedisStateStore', 'lockLingerMs', options.lockLingerMs, 50);
    this.acquireTimeoutMs = positiveTimerOption('RedisStateStore', 'acquireTimeoutMs', options.acquireTimeoutMs, 3 * this.lockTimeoutMs);
    this.commandTimeoutMs = positiveTimerOption('RedisStateStore', 'commandTimeoutMs', options.commandTimeoutMs, 5_000);
    this.pollIntervalMs = positiveTimerOption('RedisStateStore', 'pollIntervalMs', options.pollIntervalMs, 1_000);
    this.maxReconnectDelayMs = positiveTimerOption('RedisStateStore', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 2_000);
    this.registrationMs = Math.ceil(3 * this.pollIntervalMs);
    this.ttlArgument = String(this.ttlMs);
    this.unusedTtlArgument = String(this.unusedTtlMs);
    this.saveDeadlines = new DeadlineQueue(this.commandTimeoutMs);
    this.keepForMs = Math.min(this.lockTimeoutMs / 2, this.unusedTtlMs / 2, this.pollIntervalMs);
    this.logger = options.logger ?? new Logger('ReflexBridge');
    this.releaseOutage = new OutageLog(this.logger, `RedisStateStore (releasing state locks, which expire by themselves within ${this.lockTimeoutMs} ms)`);
    this.ownerChannelPrefix = `${keyPrefix}v2:owner:`;
    this.ownerChannel = `${this.ownerChannelPrefix}${this.ownerPrefix.slice(0, -1)}`;
    const memoryLimit = options.memoryLimitBytes ?? 'auto';
    if (memoryLimit !== false && memoryLimit !== 'auto' && (typeof memoryLimit !== 'number' || !Number.isFinite(memoryLimit) || memoryLimit <= 0)) {
      throw new TypeError('RedisStateStore: "memoryLimitBytes" must be a positive number of bytes, \'auto\' or false');
    }
    this.memoryLimit = memoryLimit;
    if (options.openTabKey !== undefined && typeof options.openTabKey !== 'function') {
      throw new TypeError('RedisStateStore: "openTabKey" must be a function of the token');
    }
    if (memoryLimit !== false) {
      this.memoryGuard = new RedisMemoryGuard(
        {
          servers: () => this.memoryServers(),
          commands: () => (this.closed ? undefined : (this.cluster ?? (this.commands?.isReady ? this.commands : undefined))),
          script: (script, keys, args) => (this.commands ? this.script(this.commands, script, keys, args) : Promise.reject(new Error('RedisStateStore is closed'))),
        },
        {
          limit: memoryLimit,
          checkIntervalMs: positiveTimerOption('RedisStateStore', 'memoryCheckIntervalMs', options.memoryCheckIntervalMs, 1_000),
          commandTimeoutMs: this.commandTimeoutMs,
          keyPrefix,
          unusedTtlMs: this.unusedTtlMs,
          openTabKey: options.openTabKey,
          logger: this.logger,
        },
      );
    }
  }

  /** States dropped so far because Redis's used memory passed `memoryLimitBytes`. */
  get droppedOverMemoryLimit(): number {
    return this.memoryGuard?.droppedStates ?? 0;
  }

  /**
   * How Redis bounds its memory (`INFO memory`'s `maxmemory`, 0 for none, and `maxmemory_policy`), server by server (the
   * one Redis, or each master of a Redis Cluster), with this store's own `memoryLimitBytes`: what the security audit
   * checks at startup. Connects first if the store has not yet. Undefined while Redis is down, refuses `INFO` or does
   * not answer within `commandTimeoutMs`; never rejects.
   */
  async memorySettings(): Promise<RedisMemorySettings | undefined> {
    try {
      await this.ready();
      const servers = this.memoryServers();
      if (servers.length === 0) return undefined;
      // Bounded: a frozen server (a master of a cluster) must not hold the app's start.
      const readings = await withinDeadline(Promise.all(servers.map(async (server) => ({ name: server.name, ...(await readRedisMemory(server)) }))), this.commandTimeoutMs);
      return { servers: readings.map(({ name, maxmemory, policy }) => ({ name, maxmemory, policy })), limitBytes: this.memoryLimit };
    } catch {
      return undefined;
    }
  }

  /** The servers holding states, each with its own connection: the one Redis, or each ready master of a cluster. */
  private memoryServers(): GuardedRedisServer[] {
    if (this.closed) return [];
    if (this.cluster) return this.cluster.masterConnections().map(({ address, sendCommand }) => ({ name: address, sendCommand }));
    const client = this.commands;
    return client?.isReady ? [{ name: this.safeUrl, sendCommand: (args) => client.sendCommand(args) }] : [];
  }

  /**
   * Reads Redis's used memory now and, over `memoryLimitBytes`, drops unused states as the periodic check does
   * (connecting first if the store has not yet). Resolves once done; never rejects. For tests and for an app that
   * wants room at once.
   */
  async checkMemory(): Promise<void> {
    if (!this.memoryGuard) return;
    try {
      await this.ready();
    } catch {
      return; // down or closed: nothing to read, as for a periodic check
    }
    await this.memoryGuard.check();
  }

  /**
   * Opens both connections and waits until the command connection is ready, and until Redis confirmed the store's
   * subscription to lock requests (within `commandTimeoutMs`): from then on, a lock this process keeps after a release
   * (`lockLingerMs`) goes at once to another process that asks for it. Optional (the store connects on first use);
   * call it at startup to fail early. Rejects with a {@link StateStoreError} when Redis cannot be reached; the store
   * keeps trying in the background, so a later `acquire` may still succeed.
   */
  async connect(): Promise<void> {
    const deadline = Date.now() + this.commandTimeoutMs;
    await this.ready();
    await this.ownerChannelBefore(deadline);
  }

  /**
   * Opens the connections (when not open yet) and resolves once they are ready, however many attempts fail meanwhile;
   * rejects once `timeoutMs` passed (they keep trying in the background). Unlike {@link connect}, a failed first
   * attempt does not end the wait. On shared connections (`connections`), it does not wait for them: their owner does
   * (the module does, with `redisUrl`). Either way it then waits, within `timeoutMs`, for Redis to confirm the store's
   * subscription to lock requests, as {@link connect} does. See {@link StateStore.whenReady}.
   */
  override async whenReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.assertOpen();
    await (this.starting ??= this.start());
    if (this.closed) return;
    if (!this.shared) await this.connections?.ready(timeoutMs);
    await this.ownerChannelBefore(deadline);
  }

  /**
   * Waits until Redis answered the subscription to lock requests, or until `deadline` (a time): past it the store
   * works on without it (another process asking for a lock this one keeps waits until it is given back by itself, at
   * most `lockLingerMs`), and the subscription is still made once Redis answers. Never rejects.
   */
  private async ownerChannelBefore(deadline: number): Promise<void> {
    const answered = this.ownerChannelAnswered;
    const leftMs = deadline - Date.now();
    if (answered && leftMs > 0) await withinDeadline(answered, leftMs).catch(noop);
  }

  /**
   * Waits (local callers first come, first served) for the token's lock and returns a lease on its state.
   * @throws StateStoreError `unavailable` / `timeout` when Redis is down or slow, or the lock is not granted within
   * `acquireTimeoutMs`; `closed` after {@link close}.
   */
  async acquire(token: string): Promise<StateLease> {
    this.assertOpen();
    const deadline = Date.now() + this.acquireTimeoutMs;
    let queue = this.queues.get(token);
    if (!queue) {
      queue = { waiters: [] };
      this.queues.set(token, queue);
    }
    // Join the queue before any await, so the queue order is the call order.
    const waiter = new Waiter();
    queue.waiters.push(waiter);
    let granted = false;
    try {
      await this.ready();
      while (queue.waiters[0] !== waiter) {
        this.assertOpen();
        this.assertBefore(deadline, token);
        await waiter.wait(deadline - Date.now());
      }
      const lease = await this.contend(token, queue, waiter, deadline);
      granted = true;
      return lease;
    } finally {
      this.leave(token, queue, waiter, granted);
    }
  }

  /**
   * The lease at once when this process still holds the token's lock from its previous event (see `lockLingerMs`)
   * and no local caller waits for it; else `undefined` (then use `acquire`).
   */
  override tryAcquireSync(token: string): StateLease | undefined {
    if (this.closed) return undefined;
    const queue = this.queues.get(token);
    if (queue && queue.waiters.length > 0) return undefined;
    return this.unpark(token);
  }

  /** The token's current state without locking, or `null`. */
  async read(token: string): Promise<StoredState | null> {
    await this.ready();
    this.refuseWhileStalled('read a state');
    const raw = await this.command('read a state', (client) => client.sendCommand(['HGETALL', this.keysFor(token).state]) as Promise<string[]>);
    return this.parse(token, raw);
  }

  /**
   * One field of the token's state hash (`HGET`, on the token's own hash-tagged key, so one slot on a Redis Cluster):
   * what a reconnecting tab's owner check needs, a few dozen bytes where {@link read} brings the whole state (up to
   * `maxStateBytes`). Fails as {@link read} does.
   */
  override async readEntry(token: string, name: string): Promise<Record<string, unknown> | null> {
    if (name === STORED_MARK) return null;
    await this.ready();
    this.refuseWhileStalled('read a state');
    const raw = await this.command('read a state', (client) => client.sendCommand(['HGET', this.keysFor(token).state, name]) as Promise<string | null>);
    if (raw === null || raw === undefined) return null;
    return this.parse(token, [name, raw])?.[name] ?? null;
  }

  /**
   * Reads the token's state hash and settles when Redis answers, however late: no `commandTimeoutMs` (the caller sets
   * its own deadline). For health checks, which send one at a time: a read that gave up at its deadline would stay
   * queued on the connection anyway, and the next check would queue another beside it.
   *
   * On a Redis Cluster every master is asked instead (a PING each, see {@link RedisClusterClient.pingMasters}): a read
   * reaches only its key's master, and answered while another master, holding a share of the tokens, was frozen.
   */
  async probe(token: string): Promise<void> {
    await this.ready();
    const client = this.commands;
    if (!client) throw new StateStoreError('closed', 'RedisStateStore is closed');
    if (!client.isReady) throw this.offline('read a state');
    try {
      if (this.cluster) await this.cluster.pingMasters(this.commandTimeoutMs);
      else await client.sendCommand(['HGETALL', this.keysFor(token).state]);
    } catch (error) {
      throw isQueueFull(error) ? this.backlogged('read a state', error) : this.failure('read a state', error);
    }
  }

  /**
   * Forgets a token's state (a lock held on it stays with its holder; a holder keeping it between events is told
   * to give it back, so its next event reads the state afresh).
   */
  async delete(token: string): Promise<void> {
    await this.ready();
    this.refuseWhileStalled('delete a state');
    const keys = this.keysFor(token);
    this.wanted(token);
    await this.command('delete a state', (client) => this.script(client, DELETE_SCRIPT, [keys.lock, keys.state], [this.ownerChannelPrefix, token]));
  }

  /**
   * Rejects the callers still waiting, releases the locks still held (so other workers need not wait for them to
   * expire) and closes both connections. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const leaving: Promise<unknown>[] = [];
    for (const [token, queue] of this.queues) {
      for (const waiter of queue.waiters) {
        // Out of Redis's waiting queue before our locks are released, else a lock we free would go to a
        // registration of ours while another worker waits. Awaited, not just sent first: a script unknown to Redis
        // (NOSCRIPT) is sent again as EVAL, after commands sent later. (LEAVE_SCRIPT also wakes the next waiter,
        // should it land after a release anyway.)
        if (waiter.registeredAs) leaving.push(this.leaveQuietly(token, waiter.registeredAs));
        waiter.wake();
      }
    }
    await Promise.allSettled(leaving);
    const held = [...this.locks.values()];
    await Promise.allSettled(held.map((lock) => (lock.lease ? lock.lease.release() : this.giveBack(lock))));
    // Give-backs begun before (a kept lock's linger ending as the app stops) are no longer in `locks`: closed under
    // them, their lock stayed in Redis until it expired, and the tab, reconnected to another worker, waited that long.
    await Promise.allSettled([...this.givingBack]);
    this.saveDeadlines.close();
    this.memoryGuard?.stop();
    await this.starting?.catch(noop);
    // Nobody waits for the lock-request subscription of a closed store.
    this.answerOwnerChannel?.();
    // Our release-channel subscriptions go now: a shared subscriber stays open after us.
    const subscriber = this.subscriber;
    for (const [token, queue] of this.queues) {
      if (queue.listener && subscriber) this.unsubscribe(subscriber, this.keysFor(token).channel, queue.listener);
      queue.listener = undefined;
    }
    if (subscriber) subscriber.unsubscribe(this.ownerChannel, this.onOwnerMessage).catch(noop);
    for (const { client, event, listener } of this.listeners.splice(0)) client.off(event, listener);
    this.commands = this.subscriber = this.cluster = this.clusterSubscriber = undefined;
    // Only the owner closes connections: ours, never shared ones.
    if (!this.shared) await this.connections?.close();
  }

  /** The head of the token's local queue competes for the Redis lock until it gets it. */
  private async contend(token: string, queue: TokenQueue, waiter: Waiter, deadline: number): Promise<StateLease> {
    const keys = this.keysFor(token);
    const callerId = `${this.ownerPrefix}w${++this.sequence}`;
    for (;;) {
      this.assertOpen();
      this.assertBefore(deadline, token);
      // This process kept the lock from the token's previous lease (maybe while we waited): no Redis round trip.
      const kept = this.unpark(token);
      if (kept) return kept;
      // Wake-ups from before this attempt are answered by it; those arriving during it make the wait below return.
      waiter.reset();
      const value = `${this.ownerPrefix}${++this.sequence}`;
      // Set before sending: if the answer is lost to a timeout, we still take ourselves out of the queue.
      waiter.registeredAs = callerId;
      // Sent (not refused at once as offline): if the answer is lost with the connection, the script may still
      // have taken the lock, so it is given back once Redis is reachable again (compare-and-delete: harmless if not).
      const sent = this.commands?.isReady === true;
      const sentAt = Date.now();
      const epoch = this.epoch;
      let answeredLate = false;
      this.refuseWhileStalled('acquire a lock');
      const reply = await this.command(
        'acquire a lock',
        (client) =>
          this.script(
            client,
            ACQUIRE_SCRIPT,
            [keys.lock, keys.state, keys.waiters, keys.lapses],
            [value, String(this.lockTimeoutMs), String(this.ttlMs), callerId, String(this.registrationMs), String(this.unusedTtlMs), this.ownerChannelPrefix, token],
          ) as Promise<AcquireReply>,
        Math.min(this.commandTimeoutMs, Math.max(1, deadline - Date.now())),
        // Redis answered after we gave up: the lock is ours but nobody will use it, so give it back. Either way the
        // answer settles what the lock is, so it no longer waits in `unreleased` (a slow Redis that stays connected
        // never emits 'ready', which is what would otherwise clear it: one entry per timed-out event, kept forever).
        (late) => {
          answeredLate = true;
          this.unreleased.delete(value);
          if (late[0] === 1) this.releaseQuietly(token, keys, value);
        },
      ).catch((error: unknown) => {
        // Refused by a full queue or a connection that is down: never sent, so no lock can have been taken.
        if (sent && !answeredLate && !isQueueFull((error as Error).cause) && !isNotSent((error as Error).cause)) this.rememberUnreleased(value, { token, keys, expiresAt: Date.now() + this.lockTimeoutMs });
        throw error;
      });
      if (reply[0] === 1) {
        const held: HeldLock = { token, keys, value, state: this.parse(token, reply[1]), stateSize: undefined, takenAt: sentAt, acquiredAt: Date.now(), epoch, wanted: reply[2] > 0, uncertain: false, parkedAt: 0 };
        const lease = this.lease(held);
        if (this.closed) {
          await lease.release();
          this.assertOpen();
        }
        return lease;
      }
      const [, lookAgainMs, blocker] = reply;
      if (!blocker.startsWith(this.ownerPrefix) && !queue.listener && (await this.subscribe(keys, queue))) {
        // Another process is in the way; its release arrives by pub/sub. Now that we listen, look again: a
        // release between our attempt and the subscription would otherwise go unnoticed.
        continue;
      }
      // -1: a lock without expiry, not ours (poll); otherwise look again once the blocker's lock or turn lapses.
      const untilLapse = lookAgainMs < 0 ? this.pollIntervalMs : lookAgainMs + 1;
      await waiter.wait(Math.min(untilLapse, this.pollIntervalMs, deadline - Date.now()));
    }
  }

  /** Takes a kept lock back into use when it is still safely ours, else gives it back (asynchronously). */
  private unpark(token: string): StateLease | undefined {
    const held = this.locks.get(token);
    if (!held || held.lease) return undefined;
    if (!this.trusted(held)) {
      this.giveBack(held).catch(noop);
      return undefined;
    }
    held.acquiredAt = Date.now();
    return this.lease(held);
  }

  /**
   * A kept lock may be used again while it surely has not expired (half its life left) and the connection it was
   * taken on never dropped. Half the provisional TTL bounds it too (a kept lock skips the acquire script, which is
   * what renews the state's expiry when an event only reads it), and so does `pollIntervalMs`: a lock is given back
   * and taken again at least that often, so a waiter whose request was lost (subscriber down) still gets its turn.
   */
  private trusted(held: HeldLock, now = Date.now()): boolean {
    return !held.wanted && !held.uncertain && held.epoch === this.epoch && this.commands?.isReady === true && now - held.takenAt < this.keepForMs && !this.stalled();
  }

  /** Another process asked for the token's lock (or deleted its state): a kept lock goes back now, one in use at its release. */
  private wanted(token: string): void {
    const held = this.locks.get(token);
    if (!held) return;
    if (held.lease) held.wanted = true;
    else this.giveBack(held).catch(noop);
  }

  private lease(held: HeldLock): StateLease {
    const lease = new RedisStateLease(held, this.leaseHost, this.lockTimeoutMs);
    held.lease = lease;
    // A lock kept from the token's previous event is in the map already; a newly taken one joins it.
    if (this.locks.get(held.token) !== held) this.locks.set(held.token, held);
    return lease;
  }

  /**
   * The fenced save of one event: the changed substates, sent by the store's {@link RedisSaveQueue} (at once, or
   * together with other tokens' saves while one is in flight) or, on a Redis Cluster, as one call of its own.
   * Its time limit is watched by the store's {@link DeadlineQueue} rather than a timer and a promise race per save; a
   * second attempt (the whole state after a `2`) runs within the same limit. A save whose limit passes while it still
   * waits in the queue is never sent. A failure after the command was sent (connection lost, no answer in time) is
   * `outcome_unknown`: Redis may have applied it.
   */
  private save(held: HeldLock, next: StoredState, options: SaveOptions | undefined): Promise<void> {
    const client = this.commands;
    if (!client) return Promise.reject(new StateStoreError('closed', 'RedisStateStore is closed'));
    if (!client.isReady) return Promise.reject(this.offline('save a state'));
    // Nothing sent: Redis still holds what the holder knows, so the lock stays usable for its release.
    if (this.stalled()) return Promise.reject(this.stalledError('save a state'));
    const ttl = options?.provisional ? this.unusedTtlArgument : this.ttlArgument;
    let args: string[];
    try {
      args = this.saveArguments(held, next, ttl, false);
    } catch (error) {
      // A state that cannot be written (not JSON-serialisable, a reserved name): nothing was sent.
      held.uncertain = true;
      return Promise.reject(this.failure('save a state', error));
    }
    const save = new PendingSave(this.saveHost, held, next, ttl, args);
    save.stateSize = options?.stateSize;
    this.sendSave(save);
    this.saveDeadlines.track(save);
    return save.done;
  }

  /** Sends a save: by the save queue, or on a Redis Cluster as one call of the cluster script (its token's slot, then WAIT for replicas). */
  private sendSave(save: PendingSave<HeldLock>): void {
    const cluster = this.cluster;
    if (!cluster) return this.saves.submit(save);
    const command = saveCommand([save]);
    this.clusterScript(cluster, SAVE_SCRIPT, command.slice(3, 5), command.slice(5)).then(
      // One save: the script answers it alone (see SAVE_SCRIPT).
      (written) => save.answered(written),
      (error: unknown) => save.failed(error),
    );
  }

  /**
   * One save's arguments of SAVE_SCRIPT: the substates that differ (by identity: states are copied on write, so an
   * unchanged substate is the very object this holder loaded or saved) and those that were removed; or, with
   * `whole` or when the holder knows of no stored state, every substate.
   */
  private saveArguments(held: HeldLock, next: StoredState, ttl: string, whole: boolean): string[] {
    const base = whole ? null : held.state;
    // The header goes first, once the counts are known.
    const args = [''];
    let deletions = 0;
    if (base) {
      for (const name in base) {
        if (Object.hasOwn(base, name) && !Object.hasOwn(next, name)) {
          args.push(name);
          deletions++;
        }
      }
    }
    for (const name in next) {
      if (!Object.hasOwn(next, name)) continue;
      const substate = next[name];
      if (base && base[name] === substate) continue;
      if (name === STORED_MARK) throw new TypeError(`RedisStateStore: "${STORED_MARK}" cannot be the name of a state`);
      args.push(name, JSON.stringify(substate));
    }
    if (!base) args.push(STORED_MARK, '1');
    args[0] = saveHeader(base ? 'd' : 'f', deletions, args.length - 1, ttl, held.value);
    return args;
  }

  private async renew(held: HeldLock): Promise<void> {
    const sentAt = Date.now();
    const renewed = await this.command('renew a lock', (client) => this.script(client, RENEW_SCRIPT, [held.keys.lock], [held.value, String(this.lockTimeoutMs)]));
    if (renewed !== 1) {
      held.uncertain = true;
      throw new LockLostError(held.token);
    }
    held.takenAt = sentAt;
  }

  /** Ends a lease: the lock is kept for the token's next event when it may be (see `lockLingerMs`), else given back. */
  private release(lease: RedisStateLease<HeldLock>): void | Promise<void> {
    const held = lease.lock;
    const token = held.token;
    if (held.lease === lease) held.lease = undefined;
    const now = Date.now();
    const heldMs = now - held.acquiredAt;
    // A lock held long because its save got no answer (held.uncertain) is the store's failure, logged as an outage
    // (see releaseOutage) and the event's error, not a slow handler: while Redis is frozen it would be every event.
    if (heldMs > this.lockWarningMs && !held.uncertain) {
      this.logger.warn(
        `RedisStateStore: the state lock of token ${short(token)} was held for ${heldMs} ms (warning threshold ` +
          `${this.lockWarningMs} ms, expiry ${this.lockTimeoutMs} ms); other events of this client waited meanwhile.`,
      );
    }
    if (this.lockLingerMs > 0 && !this.closed && this.trusted(held, now)) {
      this.park(held, now);
      // A local caller waiting for this token takes the kept lock without asking Redis.
      if (this.queues.size > 0) this.queues.get(token)?.waiters[0]?.wake();
      return;
    }
    return this.giveBack(held, heldMs);
  }

  /**
   * Keeps a released lock for `lockLingerMs` (see {@link HeldLock}). Parking only stamps the time: the lock's one
   * timer, armed when it is first parked, looks at the stamp when it fires and waits out the rest, so a stream of
   * events re-arms no timer per event.
   */
  private park(held: HeldLock, now: number): void {
    held.parkedAt = now;
    if (!held.timer) this.armLinger(held, this.lockLingerMs);
  }

  private armLinger(held: HeldLock, ms: number): void {
    held.timer = setTimeout(() => {
      held.timer = undefined;
      // In use again (its next release parks it anew) or already given back.
      if (held.lease || this.locks.get(held.token) !== held) return;
      const left = held.parkedAt + this.lockLingerMs - Date.now();
      if (left > 0) {
        this.armLinger(held, left);
        return;
      }
      this.giveBack(held).catch(noop);
    }, ms);
    held.timer.unref();
  }

  /**
   * Gives a lock back in Redis (compare-and-delete) and lets the token's next local caller try at once. Counted in
   * {@link givingBack} until answered, so that `close()` waits for it before the connections close.
   */
  private giveBack(held: HeldLock, heldMs?: number): Promise<void> {
    const giving = this.sendGiveBack(held, heldMs);
    this.givingBack.add(giving);
    const settled = (): void => void this.givingBack.delete(giving);
    giving.then(settled, settled);
    return giving;
  }

  private async sendGiveBack(held: HeldLock, heldMs?: number): Promise<void> {

    const { token, keys, value } = held;
    if (this.locks.get(token) === held) this.locks.delete(token);
    clearTimeout(held.timer);
    held.timer = undefined;
    let released: boolean;
    let answeredLate = false;
    try {
      released =
        (await this.command(
          'release a lock',
          (client) => this.script(client, RELEASE_SCRIPT, [keys.lock], [value, keys.channel]),
          this.commandTimeoutMs,
          // The release ran after all (a slow Redis): nothing is left to give back.
          () => {
            answeredLate = true;
            this.unreleased.delete(value);
          },
        )) === 1;
    } catch (error) {
      // Redis may have kept the lock (a restart reloads it from its snapshot): give it back once reconnected.
      if (!answeredLate) this.rememberUnreleased(value, { token, keys, expiresAt: held.takenAt + this.lockTimeoutMs });
      // Given back once Redis is back (see `unreleased`), or expires by itself.
      this.releaseOutage.failed(error);
      return;
    } finally {
      // Our own next caller need not wait for the pub/sub round trip.
      this.queues.get(token)?.waiters[0]?.wake();
    }
    this.releaseOutage.succeeded();
    if (!released && heldMs !== undefined) {
      this.logger.warn(
        `RedisStateStore: the state lock of token ${short(token)} expired before it was released (held ${heldMs} ms, ` +
          `lockTimeoutMs ${this.lockTimeoutMs}); saves after the expiry were refused.`,
      );
    }
  }

  /**
   * Listens for releases of the token's lock by other processes. Resolves `true` once Redis confirmed the
   * subscription, `false` when it could not be confirmed (the caller then relies on expiry and polling).
   */
  private async subscribe(keys: TokenKeys, queue: TokenQueue): Promise<boolean> {
    const subscriber = this.subscriber;
    if (!subscriber) return false;
    const listener = (message: string) => {
      // A release, or a caller first in line leaving while the lock is free (LEAVE_SCRIPT). Our own releases and
      // leaves wake our next caller directly.
      if (!message.startsWith(this.ownerPrefix)) queue.waiters[0]?.wake();
    };
    queue.listener = listener;
    // While disconnected, node-redis keeps the listener and subscribes once it is back.
    const subscribed = this.clusterSubscriber ? this.clusterSubscriber.sSubscribe(keys.channel, listener) : subscriber.subscribe(keys.channel, listener);
    subscribed.catch(() => {
      if (queue.listener === listener) queue.listener = undefined;
    });
    if (!subscriber.isReady) return false;
    return withinDeadline(subscribed, this.commandTimeoutMs).then(
      () => true,
      () => false,
    );
  }

  /** Removes a caller from its token's queue (and from Redis's, when it gave up) and hands the head position on. */
  private leave(token: string, queue: TokenQueue, waiter: Waiter, granted: boolean): void {
    if (waiter.registeredAs && !granted) void this.leaveQuietly(token, waiter.registeredAs);
    const index = queue.waiters.indexOf(waiter);
    if (index >= 0) queue.waiters.splice(index, 1);
    if (index === 0) queue.waiters[0]?.wake();
    if (queue.waiters.length > 0 || this.queues.get(token) !== queue) return;
    this.queues.delete(token);
    if (queue.listener && this.subscriber) this.unsubscribe(this.subscriber, this.keysFor(token).channel, queue.listener);
  }

  /**
   * Takes a caller out of the token's waiting queue in Redis, when connected (else its registration lapses); the
   * script wakes the next waiter when this caller was first in line for a free lock. Never rejects.
   */
  private leaveQuietly(token: string, callerId: string): Promise<unknown> {
    const keys = this.keysFor(token);
    const client = this.commands;
    if (!client?.isReady) return Promise.resolve();
    return withinDeadline(this.script(client, LEAVE_SCRIPT, [keys.waiters, keys.lapses, keys.lock], [callerId, keys.channel]), this.commandTimeoutMs).catch(noop);
  }

  /** Starts the connections on first use and waits for the command connection, or fails fast when it is down. */
  private async ready(): Promise<void> {
    this.assertOpen();
    await (this.starting ??= this.start());
    this.assertOpen();
    const client = this.commands;
    if (!client || client.isReady) return;
    if (this.down) {
      throw new StateStoreError(
        'unavailable',
        `RedisStateStore: not connected to ${this.safeUrl} (${this.down}); reconnecting in the background.`,
      );
    }
    // First connection still in progress: wait for it, but not for long.
    try {
      await withinDeadline(this.firstConnection ?? Promise.resolve(), this.commandTimeoutMs);
    } catch (error) {
      const reason = error === DEADLINE_PASSED ? `no connection within ${this.commandTimeoutMs} ms` : (error as Error).message;
      throw new StateStoreError('unavailable', `RedisStateStore could not connect to ${this.safeUrl}: ${reason}`, error);
    }
  }

  private async start(): Promise<void> {
    // Our own connections are created (and the driver loaded) on first use, so apps that never use Redis need not
    // install it; they retry without giving up until close(), failing commands at once while down.
    const connections = await RedisConnections.sharedOr(this.shared, {
      url: this.url!,
      namePrefix: 'rx:state:',
      connectTimeoutMs: this.commandTimeoutMs,
      maxReconnectDelayMs: this.maxReconnectDelayMs,
    });
    if (this.closed) {
      if (!this.shared) await connections.close();
      return;
    }
    this.connections = connections;
    // One promise for every caller waiting for the first connection (not one listener each).
    this.firstConnection = connections.firstConnection;
    const commands = connections.commands;
    const subscriber = connections.subscriber;
    this.watch(commands, 'command');
    this.watch(subscriber, 'subscriber');
    this.commands = commands;
    this.subscriber = subscriber;
    this.cluster = connections.clusterCommands;
    this.clusterSubscriber = connections.clusterSubscriber;
    this.memoryGuard?.start();
    // Other processes ask for the locks this one keeps on this channel. node-redis re-subscribes after an outage, but
    // only to channels Redis accepted: one refused at start (an ACL without it) is asked for again until it is made.
    this.ownerChannelAnswered = new Promise<void>((resolve) => (this.answerOwnerChannel = resolve));
    void subscribeUntilAccepted({
      // Its first answer (node-redis resolves once Redis confirmed it) is what connect() and whenReady() wait for.
      subscribe: () => subscriber.subscribe(this.ownerChannel, this.onOwnerMessage).finally(this.answerOwnerChannel),
      isClosed: () => this.closed || connections.isClosed,
      logger: this.logger,
      what: "RedisStateStore's lock requests",
      aclChannel: `${this.ownerChannelPrefix}*`,
      meanwhile: `another worker that needs a state lock this one keeps between a tab's events (lockLingerMs) waits until it is given back by itself (up to ${Math.round(this.keepForMs)} ms each time).`,
      restored: 'other workers get the state locks this one keeps at once again.',
    });
  }

  private on(client: RedisClient, event: 'error', listener: (error: Error) => void): void;
  private on(client: RedisClient, event: 'ready', listener: () => void): void;
  private on(client: RedisClient, event: 'error' | 'ready', listener: (error: Error) => void): void {
    client.on(event, listener);
    this.listeners.push({ client, event, listener });
  }

  private watch(client: RedisClient, role: 'command' | 'subscriber'): void {
    // node-redis emits 'error' for every failed (re)connection attempt; without a listener Node would crash.
    this.on(client, 'error', (error: Error) => {
      if (this.closed) return;
      if (role === 'command') {
        const first = this.down === undefined;
        this.down = error.message;
        this.forgetKept();
        if (!first) return;
        this.logger.warn(
          this.cluster
            ? `RedisStateStore: a node of ${this.safeUrl} failed or stopped answering (${error.message}); events of the tokens whose state it holds fail until it answers or a replica takes its place, the other tokens' events go on.`
            : `RedisStateStore is not connected to ${this.safeUrl} (${error.message}); events fail until it is back.`,
        );
        // Let waiting callers find out now rather than at their next poll.
        this.wakeHeads();
      } else if (!this.subscriberDown) {
        this.subscriberDown = true;
        this.logger.warn(
          `RedisStateStore subscriber connection to ${this.safeUrl} failed (${error.message}); ` +
            'waiting callers poll until it is back.',
        );
      }
    });
    this.on(client, 'ready', () => {
      if (role === 'command') {
        if (this.down !== undefined) this.logger.log(`RedisStateStore connection to ${this.safeUrl} is back.`);
        this.down = undefined;
        const now = Date.now();
        for (const [value, lock] of this.unreleased) {
          this.unreleased.delete(value);
          // Compare-and-delete: a lock that expired and was taken by someone else is left alone.
          if (lock.expiresAt > now) this.releaseQuietly(lock.token, lock.keys, value);
        }
      } else {
        if (this.subscriberDown) this.logger.log(`RedisStateStore subscriber connection to ${this.safeUrl} is back.`);
        this.subscriberDown = false;
        // Releases published while it was away were missed: look again.
        this.wakeHeads();
      }
    });
  }

  /**
   * The command connection dropped: a restarted Redis may have lost our locks, and another process may take them,
   * so kept locks are not used again; they are given back once the connection is ready (if still ours).
   */
  private forgetKept(): void {
    this.epoch++;
    for (const held of this.locks.values()) {
      // One in use is given back at its release: its epoch is no longer trusted.
      if (held.lease) continue;
      clearTimeout(held.timer);
      held.timer = undefined;
      this.rememberUnreleased(held.value, { token: held.token, keys: held.keys, expiresAt: held.takenAt + this.lockTimeoutMs });
      this.locks.delete(held.token);
    }
  }

  /**
   * Notes a lock to give back once the connection is ready again. Entries whose lock has expired by itself are
   * dropped first (they go in roughly in expiry order), so that a Redis that stalls without dropping the connection
   * (no 'ready' to clear them) holds at most the locks of the last `lockTimeoutMs`, not one per event of the stall.
   */
  private rememberUnreleased(value: string, lock: { token: string; keys: TokenKeys; expiresAt: number }): void {
    const now = Date.now();
    for (const [oldest, entry] of this.unreleased) {
      if (entry.expiresAt > now) break;
      this.unreleased.delete(oldest);
    }
    this.unreleased.set(value, lock);
  }

  private wakeHeads(): void {
    for (const queue of this.queues.values()) queue.waiters[0]?.wake();
  }

  /**
   * Runs one Redis operation: rejects at once while disconnected and after `timeoutMs` without an answer, always
   * with a {@link StateStoreError}. `onLate` sees an answer that came after the timeout. For a `write`, a failure after the
   * command was sent (a timeout, the connection lost before the answer) is `outcome_unknown`: Redis may have
   * applied it, so the caller must not report it as not done.
   */
  private async command<T>(what: string, run: (client: RedisClient) => Promise<T>, timeoutMs = this.commandTimeoutMs, onLate?: (late: T) => void, write = false): Promise<T> {
    const client = this.commands;
    if (!client) throw new StateStoreError('closed', 'RedisStateStore is closed');
    if (!client.isReady) throw this.offline(what);
    let pending: Promise<T>;
    try {
      pending = run(client);
    } catch (error) {
      throw this.failure(what, error);
    }
    try {
      return await withinDeadline(pending, timeoutMs);
    } catch (error) {
      // Until Redis answers it (or the connection drops, which fails it), what needs Redis fails at once.
      if (error === DEADLINE_PASSED) this.unansweredUntil(pending);
      if (isQueueFull(error)) throw this.backlogged(what, error);
      if (isNotSent(error)) throw this.notSent(what, error);
      if (write && !(error instanceof StateStoreError)) throw this.unknownOutcome(what, error, timeoutMs);
      if (error === DEADLINE_PASSED) {
        if (onLate) pending.then(onLate, noop);
        throw new StateStoreError('timeout', `RedisStateStore: ${this.safeUrl} did not answer within ${timeoutMs} ms; could not ${what}.`);
      }
      throw this.failure(what, error);
    }
  }

  /** True while a command that outlived its deadline is still unanswered (see `unanswered`). */
  private stalled(): boolean {
    return this.unanswered > 0 && !this.cluster;
  }

  private refuseWhileStalled(what: string): void {
    if (this.stalled()) throw this.stalledError(what);
  }

  private stalledError(what: string): StateStoreError {
    return new StateStoreError('unavailable', `RedisStateStore: ${this.safeUrl} is not answering (an earlier command is still unanswered after commandTimeoutMs); could not ${what}, nothing was sent.`);
  }

  /** Counts `answer` in `unanswered` until it settles. */
  private unansweredUntil(answer: Promise<unknown>): void {
    if (this.cluster) return;
    this.unanswered++;
    const answered = () => void this.unanswered--;
    answer.then(answered, answered);
  }

  /**
   * A save outlived its deadline; the save queue, not the store, holds its command. The connection answers in order,
   * so a PING sent now is answered right after it: until then Redis counts as stalled.
   */
  private awaitAnswerAfterStall(): void {
    const client = this.commands;
    // One PING per stall: the saves that time out with it were sent before it, so it is answered after them.
    if (this.cluster || this.pinging || !client?.isReady) return;
    let ping: Promise<unknown>;
    try {
      ping = client.sendCommand(['PING']);
    } catch {
      return;
    }
    this.pinging = true;
    const answered = () => void (this.pinging = false);
    ping.then(answered, answered);
    this.unansweredUntil(ping);
  }

  /** The command connection is not ready: nothing was sent. */
  private offline(what: string): StateStoreError {
    return new StateStoreError('unavailable', `RedisStateStore: not connected to ${this.safeUrl} (${this.down ?? 'connecting'}); could not ${what}.`);
  }

  /** The connection holds `maxPendingCommands` unanswered commands (Redis stalled or far behind): nothing was sent. */
  private backlogged(what: string, error: unknown): StateStoreError {
    return new StateStoreError('unavailable', `RedisStateStore: ${this.safeUrl} is not answering (too many commands wait for it); could not ${what}.`, error);
  }

  /**
   * node-redis did not send the command: the connection it needs is down (on a Redis Cluster, that of the token's
   * master, while the others are up) or closed.
   */
  private notSent(what: string, error: unknown): StateStoreError {
    return new StateStoreError('unavailable', `RedisStateStore: not connected to the Redis node of this token at ${this.safeUrl} (${(error as Error).message}); could not ${what}, nothing was sent.`, error);
  }

  /** Redis answered a write with an error that refused it before it changed anything (see `isRefusedBeforeWriting`). */
  private refusedWrite(what: string, error: unknown): StateStoreError {
    return new StateStoreError('unavailable', `RedisStateStore: ${this.safeUrl} refused to ${what} (${(error as Error).message}); nothing was written.`, error);
  }

  /** A write was sent but failed or got no answer within `timeoutMs` ({@link DEADLINE_PASSED}): Redis may have applied it. */
  private unknownOutcome(what: string, error: unknown, timeoutMs = this.commandTimeoutMs): StateStoreError {
    const reason = error === DEADLINE_PASSED ? `no answer within ${timeoutMs} ms` : ((error as Error)?.message ?? String(error));
    return new StateStoreError('outcome_unknown', `RedisStateStore: sent to ${this.safeUrl} but ${reason}; it may or may not have been applied (${what}).`, error === DEADLINE_PASSED ? undefined : error);
  }

  private failure(what: string, error: unknown): StateStoreError {
    if (error instanceof StateStoreError) return error;
    return new StateStoreError(
      'unavailable',
      `RedisStateStore could not ${what} on ${this.safeUrl}: ${(error as Error)?.message ?? String(error)}`,
      error,
    );
  }


  /**
   * EVALSHA, falling back to EVAL when the server does not know the script (first use, or after a restart). Sent as
   * a raw command: it runs on every event, and node-redis's `evalSha` option parsing and an async wrapper cost
   * more than the command's own encoding.
   */
  private script(client: RedisClient, script: RedisLockScript, keys: string[], args: string[]): Promise<unknown> {
    if (this.cluster) return this.clusterScript(this.cluster, script, keys, args);
    const command = ['EVALSHA', script.sha1, String(keys.length), ...keys, ...args];
    return client.sendCommand(command).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      command[0] = 'EVAL';
      command[1] = script.source;
      return client.sendCommand(command);
    });
  }

  /**
   * A script on a Redis Cluster: its cluster form (sharded publishes), routed to the master of the token's slot;
   * a state write then waits until `waitReplicas` replicas confirmed it, so that an acknowledged save survives a
   * failover. A write not confirmed in time is `outcome_unknown`: applied, but maybe lost with its master.
   */
  private async clusterScript(cluster: RedisClusterClient, script: RedisLockScript, keys: string[], args: string[]): Promise<unknown> {
    const command = ['EVALSHA', script.cluster.sha1, String(keys.length), ...keys, ...args];
    let reply: unknown;
    try {
      reply = await cluster.sendCommand(command);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      command[0] = 'EVAL';
      command[1] = script.cluster.source;
      reply = await cluster.sendCommand(command);
    }
    const wait = this.connections?.replicaWait;
    if (script.writesState && wait && wait.replicas > 0) {
      const confirmed = await cluster.waitForReplicas(keys[0]!, wait.replicas, wait.timeoutMs);
      if (confirmed < wait.replicas) {
        const master = cluster.masterOf(keys[0]!) ?? this.safeUrl;
        const error = new StateStoreError(
          'outcome_unknown',
          `RedisStateStore: a state write on the Redis Cluster master ${master} was confirmed by ${confirmed} of ${wait.replicas} replicas within ` +
            `${wait.timeoutMs} ms; it is applied, but lost if its master fails now.`,
        );
        (this.unconfirmedWrites ??= new UnconfirmedWritesLog(this.logger, wait.replicas, wait.timeoutMs)).unconfirmed(master);
        error.logged = true;
        throw error;
      }
      if (this.unconfirmedWrites?.active) this.unconfirmedWrites.confirmed(cluster.masterOf(keys[0]!) ?? this.safeUrl);
    }
    return reply;
  }

  /** Leaves a token's release channel (sharded on a Redis Cluster); never rejects. */
  private unsubscribe(subscriber: RedisClient, channel: string, listener: (message: string) => void): void {
    (this.clusterSubscriber ? this.clusterSubscriber.sUnsubscribe(channel, listener) : subscriber.unsubscribe(channel, listener)).catch(noop);
  }

  /** Releases a lock nobody uses (granted after its caller gave up), and lets our next caller try at once. */
  private releaseQuietly(token: string, keys: TokenKeys, value: string): void {
    const client = this.commands;
    if (!client?.isReady) return;
    this.script(client, RELEASE_SCRIPT, [keys.lock], [value, keys.channel])
      .then(() => this.queues.get(token)?.waiters[0]?.wake())
      .catch(noop);
  }

  private keysFor(token: string): TokenKeys {
    const base = `${this.keyPrefix}v2:{${token}}`;
    return { state: base, lock: `${base}:lock`, channel: `${base}:released`, waiters: `${base}:waiters`, lapses: `${base}:waiters:lapse` };
  }

  /** A state hash (HGETALL's flat field/value list) as a state tree; `null` when there is none. */
  private parse(token: string, raw: string[] | null | undefined): StoredState | null {
    if (!raw || raw.length === 0) return null;
    const state: StoredState = {};
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      if (name === STORED_MARK) continue;
      let value: unknown;
      try {
        value = JSON.parse(raw[i + 1]!);
      } catch {
        // reported below
      }
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        state[name] = value as Record<string, unknown>;
      } else {
        // Like Reflex with an unreadable state: start this one fresh rather than fail every event of this client.
        this.logger.warn(`RedisStateStore: the stored state "${name}" of token ${short(token)} is not a JSON object; it is treated as empty.`);
      }
    }
    return state;
  }

  private assertOpen(): void {
    if (this.closed) throw new StateStoreError('closed', 'RedisStateStore is closed');
  }

  private assertBefore(deadline: number, token: string): void {
    if (Date.now() >= deadline) {
      throw new StateStoreError(
        'timeout',
        `RedisStateStore: the state lock of token ${short(token)} was not granted within ${this.acquireTimeoutMs} ms.`,
      );
    }
  }
}

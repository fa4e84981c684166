import { Injectable, Logger, type LoggerService } from '@nestjs/common';
import type * as Redis from 'redis';
import type { createClient, createCluster, RedisClientType } from 'redis';
import { knownOptions, positiveOption, positiveTimerOption, redactUrl } from './connection-options.js';
import { RedisClusterClient, type RedisCluster } from './redis-cluster.client.js';
import type { RedisClusterOptions } from './redis-cluster.options.js';
import { DEFAULT_MAX_PENDING_COMMANDS, failFastRedisOptions } from './fail-fast-redis.options.js';
import { withinDeadline } from './deadline.js';
import { MAX_TIMER_MS } from './timer-ms.js';
import { RedisAdapterSubscriber } from './redis-adapter-subscriber.js';
import { REDIS_PROTOCOL_OPTIONS } from './redis-protocol.options.js';
import { RedisClientEvents } from './redis-client-events.js';
import { SilentConnectionWatch } from './silent-connection-watch.js';

/**
 * Milliseconds beyond the longest command a healthy cluster node may take (a save's `WAIT`) after which an unanswered
 * command means its node stopped answering (see `RedisClusterClient`).
 */
const STALL_MARGIN_MS = 1_000;

/**
 * A node-redis client (5 or 6) speaking RESP2, as `createClient` from the `redis` package returns it with the
 * library's options (see `REDIS_PROTOCOL_OPTIONS`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- node-redis's own spelling of "no modules, functions, scripts or type mapping"
export type RedisClient = RedisClientType<{}, {}, {}, 2, {}>;

/** Options of {@link RedisConnections}. */
export interface RedisConnectionsOptions {
  /** Redis URL, e.g. `redis://localhost:6379` or `rediss://user:pass@host:6380/0`. Give either `url` or `cluster`. */
  url?: string;
  /**
   * A Redis Cluster instead of one Redis (see {@link RedisClusterOptions}; `rootNodes` and `defaults` are used
   * here). `commands` and `subscriber` are then {@link RedisClusterClient}s.
   */
  cluster?: RedisClusterOptions;
  /**
   * Start of each connection's name (`CLIENT SETNAME`), so an operator's `CLIENT LIST` tells the connections
   * apart: `<namePrefix>commands` and `<namePrefix>subscriber`. Only letters, digits and `:._-`.
   * @default 'rx:'
   */
  namePrefix?: string;
  /**
   * Milliseconds one connection attempt may take; also how long {@link RedisConnections.ready} waits.
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * Upper bound of the delay between reconnection attempts after a lost connection (exponential backoff from
   * 50 ms with jitter). Reconnection never gives up until `close()`.
   * @default 2_000
   */
  maxReconnectDelayMs?: number;
  /**
   * Commands the command connection holds at most while they wait to be sent or answered; one more is refused at
   * once (the state store answers it `unavailable`). It bounds the memory a worker spends, and the backlog Redis
   * replays, when Redis stops answering without dropping the connection (a paused process or VM, a network black
   * hole): every event's commands would otherwise pile up until it answers. A healthy Redis answers each batch within
   * milliseconds, far below this.
   * @default 10_000
   */
  maxPendingCommands?: number;
  /**
   * Bytes of Socket.IO adapter broadcasts (a `ReflexStateService.modify`, a live update or any emit aimed at sockets
   * on other workers) the command connection holds at most while they wait to be sent or answered; a broadcast past it
   * is dropped at once (pub/sub delivers at most once anyway; the module then resyncs the tabs it was for once broadcasts
   * go out again, see {@link RedisConnections.watchBroadcastDrops}), and a warning logged once per outage. `maxPendingCommands`
   * alone bounds their number, not their size: while Redis does not answer (paused, a frozen VM), 10,000 broadcasts of
   * a 1 MB delta would hold 10 GB.
   * @default 64_000_000
   */
  maxPendingPublishBytes?: number;
  /**
   * Milliseconds between two PINGs on the subscriber connection (one Redis, not a Redis Cluster, whose subscriber
   * watches its nodes by itself); a PING unanswered for as long means its network path went silent (a partition, a NAT
   * or firewall that forgot the idle flow: nothing reset, so node-redis sees no error and hears no message until the
   * kernel gives up, many minutes later). The subscriber is then reopened: it re-subscribes, and
   * {@link RedisConnections.onSubscriberBack} listeners run. So a silent subscriber is replaced within twice this, for
   * one PING per interval.
   * @default 5_000
   */
  subscriberCheckIntervalMs?: number;
  /**
   * Milliseconds between two PINGs on the command connection (one Redis, not a Redis Cluster, whose client watches
   * its nodes by itself). When a PING is not answered within as long (or is refused because `maxPendingCommands`
   * commands wait), Redis is asked on a new connection: when it answers there, the command connection's network path
   * went silent (nothing reset: node-redis sees no error, and every command of this worker would wait, then be refused,
   * until the kernel gives up, many minutes later), and the connection is replaced. When Redis answers nobody (paused,
   * frozen), or answers the first PING too within a second of the new connection's (it woke while asked), the
   * connection is kept: Redis answers what it was sent once it resumes. So a silent command connection is replaced
   * within about three times this plus a second, for one PING per interval.
   * @default 5_000
   */
  commandsCheckIntervalMs?: number;
  /** Where connection warnings go. @default new Logger('ReflexBridge') */
  logger?: LoggerService;
}

/** The keys of {@link RedisConnectionsOptions}: any other is refused. */
const REDIS_CONNECTIONS_OPTIONS: readonly (keyof RedisConnectionsOptions)[] = [
  'url',
  'cluster',
  'namePrefix',
  'connectTimeoutMs',
  'maxReconnectDelayMs',
  'maxPendingCommands',
  'maxPendingPublishBytes',
  'subscriberCheckIntervalMs',
  'commandsCheckIntervalMs',
  'logger',
];
/** The keys of {@link RedisClusterOptions} (the module's `redisCluster` refuses any other the same way). */
const CLUSTER_OPTIONS: readonly (keyof RedisClusterOptions)[] = ['rootNodes', 'defaults', 'waitReplicas', 'waitTimeoutMs', 'nodeAddressMap'];

/**
 * The two clients the Socket.IO Redis adapter takes: `createAdapter(pub, sub)`, or, with `sharded` (a Redis
 * Cluster), `createShardedAdapter(pub, sub)` (Redis 7 sharded pub/sub).
 */
export interface RedisAdapterClients {
  /** Publishes on the shared command connection; a publish that fails while Redis is down is dropped, never thrown. */
  pub: RedisAdapterPublisher;
  /**
   * The shared subscriber connection; its (un)subscriptions never reject unobserved (on a Redis Cluster: its sharded
   * (un)subscriptions, see `RedisClusterClient.adapterSubscriber`).
   */
  sub: RedisAdapterSubscriber | ReturnType<RedisClusterClient['adapterSubscriber']>;
  /** True on a Redis Cluster: use `createShardedAdapter`. */
  sharded: boolean;
}

const noop = () => undefined;
/** The logger of connections whose owner logs their outages itself. */
const SILENT = { log: noop, warn: noop, error: noop };
/** Several owners listen to one client's `error` and `ready`: more than Node's default of 10 listeners is expected. */
const MAX_LISTENERS = 64;

/**
 * The Redis connections of one worker, shared by every part of the library that talks to Redis, so that a worker
 * opens two connections whatever it uses (state store, event cache, cookie handoffs, rate-limit storage, live
 * transport, session-store watcher, Socket.IO adapter):
 *
 * - **`commands`** (`rx:commands`): every ordinary command. Fail-fast: while Redis is down a command rejects at
 *   once instead of waiting in a queue (see `failFastRedisOptions`), so every user keeps answering with a clean
 *   error. Nothing the library sends needs a connection of its own: the state lock is Lua scripts (no `WATCH`, no
 *   blocking command), and `MULTI`/`EXEC` without `WATCH` is sent as one uninterrupted batch by node-redis.
 * - **`subscriber`** (`rx:subscriber`, opened on first use): every `SUBSCRIBE`/`PSUBSCRIBE`. node-redis dispatches
 *   each message to the listeners of its own channel or pattern, and unsubscribing with a listener removes only
 *   that listener (the channel is left only when no listener remains), so owners never disturb each other. After a
 *   reconnection node-redis re-subscribes every channel and pattern before it reports the connection ready. Its
 *   commands are queued while it reconnects (they are only (un)subscriptions, which must survive an outage).
 *
 * On a Redis Cluster (`cluster`, the module's `redisCluster`), both are {@link RedisClusterClient}s over node-redis
 * cluster clients (the subscriber connects only to the nodes its subscriptions need), with the same fail-fast and
 * reconnection settings on every node; they also follow a failover (see {@link RedisClusterClient}).
 *
 * The module creates one when `redisUrl` (or `redisCluster`) is set and closes it at shutdown, after everything using it. A class
 * given these connections (`new RedisStateStore({ connections })`, ...) never closes them.
 *
 * @example
 * ```ts
 * const connections = await RedisConnections.create({ url: 'redis://localhost:6379' });
 * const store = new RedisStateStore({ connections });
 * // ... later
 * await store.close();
 * await connections.close();
 * ```
 * @publicApi
 */
@Injectable()
export class RedisConnections {
  /** The URL with its password redacted, for log lines and error messages. */
  readonly safeUrl: string;
  private readonly url?: string;
  private readonly clusterOptions?: RedisConnectionsOptions['cluster'];
  private readonly namePrefix: string;
  private readonly connectTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly maxPendingCommands: number;
  /** The bytes of adapter broadcasts waiting on the command connection, and their bound (see `maxPendingPublishBytes`). */
  private readonly publishBytes: PublishBytes;
  private readonly subscriberCheckIntervalMs: number;
  private readonly commandsCheckIntervalMs: number;
  /** Watches the single-node command connection for a silent network path (see `commandsCheckIntervalMs`). */
  private commandsWatch?: SilentConnectionWatch;
  /** Watches the single-node subscriber for a silent network path (see `subscriberCheckIntervalMs`). */
  private subscriberWatch?: SilentConnectionWatch;
  private readonly logger: LoggerService;
  private readonly commandsClient: RedisClient;
  private subscriberClient?: RedisClient;
  /** On a Redis Cluster: the same objects as `commandsClient` / `subscriberClient`, with their real type. */
  private readonly commandsCluster?: RedisClusterClient;
  private subscriberCluster?: RedisClusterClient;
  /** Settles with the command connection's first success or first failure. */
  private readonly firstCommandsConnection: Promise<void>;
  /** Why each connection is down, while it is (logged once per outage). */
  private readonly down = new Map<string, string>();
  private closing?: Promise<void>;
  private closed = false;
  /** Called when the subscriber connection is ready again after it failed (see {@link onSubscriberBack}). */
  private readonly subscriberBack: Array<() => void> = [];
  /** Told of the adapter broadcasts that were dropped (see {@link watchBroadcastDrops}). */
  private dropWatcher?: BroadcastDropWatcher;

  private constructor(
    options: RedisConnectionsOptions,
    private readonly create: typeof createClient,
    private readonly createClusterClient: typeof createCluster,
  ) {
    this.url = options.url;
    this.clusterOptions = options.cluster;
    this.replicaWait = options.cluster && { replicas: options.cluster.waitReplicas ?? 1, timeoutMs: options.cluster.waitTimeoutMs ?? 1_000 };
    this.safeUrl = options.cluster ? `Redis Cluster ${options.cluster.rootNodes.map(redactUrl).join(', ')}` : redactUrl(options.url!);
    this.namePrefix = options.namePrefix ?? 'rx:';
    this.connectTimeoutMs = positiveTimerOption('RedisConnections', 'connectTimeoutMs', options.connectTimeoutMs, 5_000);
    this.maxReconnectDelayMs = positiveTimerOption('RedisConnections', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 2_000);
    this.maxPendingCommands = Math.max(1, Math.floor(positiveOption('RedisConnections', 'maxPendingCommands', options.maxPendingCommands, DEFAULT_MAX_PENDING_COMMANDS)));
    this.publishBytes = { pending: 0, max: positiveOption('RedisConnections', 'maxPendingPublishBytes', options.maxPendingPublishBytes, 64_000_000) };
    this.subscriberCheckIntervalMs = positiveTimerOption('RedisConnections', 'subscriberCheckIntervalMs', options.subscriberCheckIntervalMs, 5_000);
    this.commandsCheckIntervalMs = positiveTimerOption('RedisConnections', 'commandsCheckIntervalMs', options.commandsCheckIntervalMs, 5_000);
    this.logger = options.logger ?? new Logger('ReflexBridge');
    if (options.cluster) {
      this.commandsCluster = this.openCluster('commands', true);
      this.commandsClient = this.commandsCluster as unknown as RedisClient;
    } else {
      this.commandsClient = this.open('commands', true);
    }
    const commands = this.commandsClient;
    this.firstCommandsConnection = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        commands.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        commands.off('ready', onReady);
        reject(error);
      };
      commands.once('ready', onReady);
      commands.once('error', onError);
    });
    this.firstCommandsConnection.catch(noop);
  }

  /**
   * `shared` when given; else connections of the caller's own, named `<namePrefix>commands` / `…subscriber` and
   * silent (the caller reports outages in its own words). A class that got `shared` must never close it. `own` names
   * each option it passes (never a spread of the caller's own options, which {@link create} would refuse).
   */
  static async sharedOr(
    shared: RedisConnections | undefined,
    own: Pick<RedisConnectionsOptions, 'url' | 'namePrefix' | 'connectTimeoutMs' | 'maxReconnectDelayMs'>,
  ): Promise<RedisConnections> {
    return shared ?? RedisConnections.create({ ...own, logger: SILENT });
  }

  /**
   * Creates the connections and starts connecting the command connection in the background (node-redis keeps
   * trying until {@link close}). Loads the `redis` package, an optional peer dependency, on first use.
   * @throws TypeError for invalid options; Error when the `redis` package is not installed.
   */
  static async create(options: RedisConnectionsOptions): Promise<RedisConnections> {
    if (options?.cluster !== undefined) {
      if (options.url !== undefined) throw new TypeError('RedisConnections: give either "url" or "cluster", not both');
      knownOptions('RedisConnections', options.cluster, CLUSTER_OPTIONS, 'cluster.');
      if (!Array.isArray(options.cluster?.rootNodes) || options.cluster.rootNodes.length === 0 || options.cluster.rootNodes.some((url) => typeof url !== 'string' || url === '')) {
        throw new TypeError('RedisConnections: "cluster.rootNodes" must list Redis URLs such as redis://127.0.0.1:7000');
      }
      assertClusterValues(options.cluster);
    } else if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisConnections: "url" must be a Redis URL such as redis://localhost:6379');
    }
    knownOptions('RedisConnections', options, REDIS_CONNECTIONS_OPTIONS);
    if (options.namePrefix !== undefined && (typeof options.namePrefix !== 'string' || !/^[\w:.-]*$/.test(options.namePrefix))) {
      throw new TypeError('RedisConnections: "namePrefix" may hold only letters, digits and ":._-"');
    }
    let redis: typeof Redis;
    try {
      redis = await import('redis');
    } catch (error) {
      throw new Error('Redis support needs the "redis" package (node-redis 5 or 6): npm install redis', { cause: error });
    }
    return new RedisConnections(options, redis.createClient, redis.createCluster);
  }

  /** True when these are the connections to `url` (so a part configured with the same URL can share them). */
  isFor(url: string): boolean {
    return url === this.url;
  }

  /** True when these are connections to a Redis Cluster (`cluster`). */
  get isCluster(): boolean {
    return this.commandsCluster !== undefined;
  }

  /**
   * The shared command connection (fail-fast). Never close it: the owner of these connections does. On a Redis
   * Cluster, a {@link RedisClusterClient} (see {@link clusterCommands}): it offers the commands the library sends
   * (`sendCommand` routed by the first key, `get`, `set`, `eval`, `evalSha`, `publish`), not every method of a
   * single-node client.
   */
  get commands(): RedisClient {
    return this.commandsClient;
  }

  /**
   * True while a connection attempt of the command or subscriber connection has failed since it was last ready (Redis
   * refused it, or did not answer it in time): Redis is unreachable now, as opposed to a connection still connecting.
   */
  get unreachable(): boolean {
    return this.down.size > 0;
  }

  /** The shared subscriber connection, opened on first use. Subscribe with a listener; unsubscribe with the same one. */
  get subscriber(): RedisClient {
    if (this.subscriberClient) return this.subscriberClient;
    if (!this.clusterOptions) return (this.subscriberClient = this.open('subscriber', false));
    this.subscriberCluster = this.openCluster('subscriber', false);
    return (this.subscriberClient = this.subscriberCluster as unknown as RedisClient);
  }

  /**
   * On a Redis Cluster, how many replicas must confirm a state write, and how long that may take
   * (`cluster.waitReplicas`, default 1; `cluster.waitTimeoutMs`, default 1000); `undefined` on one Redis.
   */
  readonly replicaWait: { replicas: number; timeoutMs: number } | undefined;

  /** On a Redis Cluster, the command connection with its real type; `undefined` otherwise. */
  get clusterCommands(): RedisClusterClient | undefined {
    return this.commandsCluster;
  }

  /** On a Redis Cluster, the subscriber (opened on first use) with its real type; `undefined` otherwise. */
  get clusterSubscriber(): RedisClusterClient | undefined {
    if (!this.clusterOptions) return undefined;
    void this.subscriber;
    return this.subscriberCluster;
  }

  /**
   * Calls `listener` each time the subscriber connection is ready again after it failed (not at its first
   * connection). Redis pub/sub delivers at most once: what was published meanwhile (another worker's "session
   * ended", a live update) is lost, so whoever keeps something that such news would have dropped drops it now.
   */
  onSubscriberBack(listener: () => void): void {
    this.subscriberBack.push(listener);
  }

  /**
   * Tells `watcher` of each Socket.IO adapter broadcast that was dropped (`maxPendingPublishBytes` or
   * `maxPendingCommands` reached, Redis down), and, while it is {@link BroadcastDropWatcher.waiting}, that broadcasts
   * are published again. One watcher; nothing is kept here for broadcasts that went out.
   */
  watchBroadcastDrops(watcher: BroadcastDropWatcher): void {
    this.dropWatcher = watcher;
  }

  /** True once {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Settles with the command connection's first success (resolves) or first failure (rejects), whichever comes
   * first; a user that starts before the connection is up waits on this rather than on a listener of its own.
   */
  get firstConnection(): Promise<void> {
    return this.firstCommandsConnection;
  }

  /**
   * What the Socket.IO Redis adapter takes: `createAdapter(pub, sub)`. `sub` is the shared subscriber (the adapter
   * subscribes and unsubscribes with its own listeners, in buffer mode); `pub` publishes on the shared command
   * connection. The adapter does not handle the promise of its publishes, and a fail-fast connection rejects them
   * while Redis is down: `pub` drops such a publish (pub/sub is at most once anyway) instead of letting the
   * rejection end the process.
   */
  adapterClients(): RedisAdapterClients {
    const subscriber = this.clusterSubscriber;
    if (subscriber) {
      const sub = subscriber.adapterSubscriber((error) => this.logger.warn(`Socket.IO adapter: a subscription failed (${error.message}); broadcasts to that room may not reach this worker.`));
      return { pub: new RedisAdapterPublisher(this.commandsClient, this.logger, this.publishBytes, () => this.dropWatcher, this.commandsCluster!.cluster), sub, sharded: true };
    }
    return { pub: new RedisAdapterPublisher(this.commandsClient, this.logger, this.publishBytes, () => this.dropWatcher), sub: new RedisAdapterSubscriber(this.subscriber, this.logger), sharded: false };
  }

  /**
   * Milliseconds a first connection may need however its attempts go, which the module waits at start before the app
   * listens: `connectTimeoutMs` on one Redis. On a Redis Cluster, one attempt's own limit (`connectTimeoutMs` +
   * `waitTimeoutMs` + 1 s: a root node that accepts the connection and answers nothing holds it that long) and another
   * attempt's connect timeout: 12 s with the defaults.
   */
  get startWaitMs(): number {
    return this.replicaWait ? 2 * this.connectTimeoutMs + this.replicaWait.timeoutMs + STALL_MARGIN_MS : this.connectTimeoutMs;
  }

  /**
   * Resolves once the command connection (and the subscriber, when opened) is ready; rejects when that takes longer
   * than `connectTimeoutMs`, naming the URL without its password. The connections keep trying in the background.
   */
  async ready(timeoutMs = this.connectTimeoutMs): Promise<void> {
    if (this.closed) throw new Error('RedisConnections are closed');
    const clients = [this.commandsClient, this.subscriberClient].filter((client): client is RedisClient => !!client);
    const pending = clients.filter((client) => !client.isReady);
    if (pending.length === 0) return;
    const cleanups: (() => void)[] = [];
    const waiting = pending.map(
      (client) =>
        new Promise<void>((resolve) => {
          const onReady = () => resolve();
          client.once('ready', onReady);
          cleanups.push(() => client.off('ready', onReady));
        }),
    );
    try {
      await withinDeadline(Promise.all(waiting), timeoutMs);
    } catch {
      const reasons = [...this.down.values()];
      throw new Error(
        `Could not connect to Redis at ${this.safeUrl} within ${timeoutMs} ms` + (reasons.length > 0 ? ` (${reasons.join('; ')})` : ''),
      );
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  /**
   * Closes both connections: gracefully when connected (bounded by `connectTimeoutMs`), at once otherwise.
   * Idempotent. Only the owner calls this, after everything using the connections was closed.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.subscriberWatch?.stop();
      this.commandsWatch?.stop();
      const clients = [this.commandsClient, this.subscriberClient].filter((client): client is RedisClient => !!client);
      this.closing = Promise.all(clients.map((client) => this.shutdown(client))).then(noop);
    }
    return this.closing;
  }

  private open(role: 'commands' | 'subscriber', failFast: boolean): RedisClient {
    const options = failFastRedisOptions({
      url: this.url!,
      connectTimeoutMs: this.connectTimeoutMs,
      maxReconnectDelayMs: this.maxReconnectDelayMs,
      isClosed: () => this.closed,
      // The subscriber's queue holds only (un)subscriptions, which must not be refused.
      maxPendingCommands: failFast ? this.maxPendingCommands : undefined,
    });
    const name = `${this.namePrefix}${role}`;
    // The subscriber's only commands are (un)subscriptions: they wait for the reconnection rather than fail, so a
    // subscription made during an outage is not lost (node-redis re-subscribes the others by itself).
    const client = this.create({ ...options, name, disableOfflineQueue: failFast });
    this.connect(client, role, name);
    if (role === 'subscriber') this.subscriberWatch = new SilentConnectionWatch(client, this.subscriberCheckIntervalMs, (reason) => this.reopen(client, role, name, reason));
    else this.commandsWatch = new SilentConnectionWatch(client, this.commandsCheckIntervalMs, (reason) => this.reopen(client, role, name, reason), () => this.answersNewConnection(this.commandsCheckIntervalMs));
    return client;
  }

  /**
   * Whether Redis answers a PING on a new connection within `timeoutMs`: it tells a silent network path of one
   * connection (yes) from a Redis that answers nobody (no). The connection is closed whatever the outcome.
   */
  private async answersNewConnection(timeoutMs: number): Promise<boolean> {
    const settings = failFastRedisOptions({ url: this.url!, connectTimeoutMs: timeoutMs, maxReconnectDelayMs: this.maxReconnectDelayMs, isClosed: () => true });
    const probe = this.create({ ...settings, name: `${this.namePrefix}probe`, socket: { ...settings.socket, reconnectStrategy: false } });
    // Its failures are this check's answer, not an outage to log.
    probe.on('error', noop);
    const answered = probe.connect().then(() => probe.sendCommand(['PING']));
    answered.catch(noop);
    try {
      await withinDeadline(answered, timeoutMs);
      return true;
    } catch {
      return false;
    } finally {
      try {
        probe.destroy();
      } catch {
        // Closed already (its connection failed).
      }
    }
  }

  /**
   * Replaces a connection whose network path went silent: node-redis drops the socket (failing the commands waiting
   * on it, as a lost connection does) and connects again, re-subscribing every channel and pattern before it is
   * ready; its return is then reported, and acted on, as after any outage (see {@link connect}).
   */
  private reopen(client: RedisClient, role: 'commands' | 'subscriber', name: string, reason: string): void {
    if (this.closed) return;
    this.down.set(role, reason);
    this.logger.warn(`Redis connection ${name} to ${this.safeUrl} went silent (${reason}); reconnecting.`);
    client.destroy();
    client.connect().catch(noop);
  }

  /**
   * A cluster connection: one node-redis cluster client (its connections to every master are opened eagerly for
   * commands, on demand for the subscriber), with the same fail-fast and reconnection settings on every node.
   */
  private openCluster(role: 'commands' | 'subscriber', failFast: boolean): RedisClusterClient {
    const cluster = this.clusterOptions!;
    const settings = failFastRedisOptions({
      url: '',
      connectTimeoutMs: this.connectTimeoutMs,
      maxReconnectDelayMs: this.maxReconnectDelayMs,
      isClosed: () => this.closed,
    });
    const name = `${this.namePrefix}${role}`;
    const given = cluster.defaults ?? {};
    const created = this.createClusterClient(<Parameters<typeof createCluster>[0]>{
      // The cluster client gives its nodes its RESP version and sends every command with its own command options.
      ...REDIS_PROTOCOL_OPTIONS,
      rootNodes: cluster.rootNodes.map((url) => ({ url })),
      defaults: {
        ...given,
        name,
        disableOfflineQueue: failFast,
        // Per node, as for one Redis (see `maxPendingCommands`).
        ...(failFast ? { commandsQueueMaxLength: this.maxPendingCommands } : {}),
        socket: { ...settings.socket, ...(given.socket as object | undefined) },
      },
      // The subscriber connects only to the nodes its subscriptions need.
      minimizeConnections: !failFast,
      ...(cluster.nodeAddressMap ? { nodeAddressMap: cluster.nodeAddressMap } : {}),
    });
    // Both watch for a node that stopped answering: the command connection by its commands (a healthy node answers
    // within milliseconds, or, for a state save's WAIT, within `waitTimeoutMs`), the subscriber, which sends none, by
    // a PING on each of its subscription connections every `stallMs`.
    const stallMs = this.replicaWait!.timeoutMs + STALL_MARGIN_MS;
    // A first connection attempt may take one node's connect timeout (an unreachable root node) and a stall.
    const client = new RedisClusterClient(created as RedisCluster, Math.min(500, this.maxReconnectDelayMs), stallMs, failFast ? 'commands' : 'subscriptions', this.connectTimeoutMs + stallMs);
    created.setMaxListeners(MAX_LISTENERS);
    return this.connect(client, role, name);
  }

  /**
   * Starts connecting `client` in the background (node-redis keeps trying until {@link close}) and logs each
   * outage of it once, and its end.
   */
  private connect<C extends RedisClient | RedisClusterClient>(client: C, role: 'commands' | 'subscriber', name: string): C {
    client.setMaxListeners(MAX_LISTENERS);
    // node-redis emits 'error' for every failed (re)connection attempt; without a listener Node would crash.
    client.on('error', (error: Error) => {
      if (this.closed) return;
      const first = !this.down.has(role);
      this.down.set(role, error.message);
      if (!first) return;
      // A connected cluster lost one node: the others serve on (see RedisClusterClient), so "reconnecting" would not
      // say what goes on.
      if (client instanceof RedisClusterClient && client.isReady) {
        this.logger.warn(
          `Redis connection ${name} to ${this.safeUrl}: a node failed or stopped answering (${error.message}); the other nodes serve on, ` +
            'and the cluster is asked for its layout until that node answers or a replica takes its place.',
        );
      } else {
        this.logger.warn(`Redis connection ${name} to ${this.safeUrl} failed (${error.message}); reconnecting.`);
      }
    });
    client.on('ready', () => {
      if (!this.down.delete(role)) return;
      this.logger.log(`Redis connection ${name} to ${this.safeUrl} is back.`);
      if (role !== 'subscriber') return;
      for (const listener of this.subscriberBack) {
        try {
          listener();
        } catch (error) {
          this.logger.warn(`Acting on the return of ${name} failed: ${(error as Error)?.message ?? String(error)}`);
        }
      }
    });
    client.connect().catch(noop);
    return client;
  }

  private async shutdown(client: RedisClient): Promise<void> {
    try {
      if (client.isReady) await withinDeadline(client.close(), this.connectTimeoutMs);
      // node-redis's destroy throws on a client that is already closed.
      else if (client.isOpen) client.destroy();
    } catch {
      // Not answering: drop the socket.
      if (client.isOpen) client.destroy();
    }
  }
}

/**
 * Told of the Socket.IO adapter broadcasts a worker could not publish: pub/sub delivers at most once, so the sockets
 * they were for (on other workers) miss a change their state in the store already holds.
 */
export interface BroadcastDropWatcher {
  /** The broadcast on `channel` (the adapter's channel: `<key>#<namespace>#<room>#` for one room) was dropped. */
  dropped(channel: string): void;
  /** True while the watcher waits to hear that broadcasts are published again. */
  readonly waiting: boolean;
  /** A broadcast was published, or the command connection is back, while {@link waiting}. */
  flowing(): void;
}

/** Bytes of adapter broadcasts waiting on one command connection (shared by its publishers), and their bound. */
interface PublishBytes {
  pending: number;
  readonly max: number;
}

/**
 * The publishing side handed to the Socket.IO Redis adapter: exactly what it calls on its `pubClient` with
 * node-redis 4/5 (`publish`, `sendCommand` for `PUBSUB NUMSUB`, `on`/`off` of `error`), on the shared command
 * connection. `pSubscribe`/`sSubscribe` exist only because the adapter recognises node-redis by them; they refuse,
 * since a command connection must never enter subscribed mode.
 */
class RedisAdapterPublisher extends RedisClientEvents {
  private warned = false;

  constructor(
    client: RedisClient,
    private readonly logger: LoggerService,
    private readonly bytes: PublishBytes,
    private readonly watcher: () => BroadcastDropWatcher | undefined,
    private readonly cluster?: RedisCluster,
  ) {
    super(client);
    client.on('ready', () => {
      this.warned = false;
      this.published(0);
    });
  }

  /** PUBLISH; resolves to 0 (nobody reached) when Redis is down, instead of rejecting unobserved. */
  publish(channel: string, message: string | Buffer): Promise<number> {
    return this.bounded(channel, message, () => this.client.publish(channel, message));
  }

  /** SPUBLISH (the sharded adapter, on a Redis Cluster); like {@link publish}, never rejects. */
  sPublish(channel: string, message: string | Buffer): Promise<number> {
    // Through the command connection's RedisClusterClient, which notices a node that stopped answering.
    return this.bounded(channel, message, () => (this.client as unknown as RedisClusterClient).sPublish(channel, message));
  }

  /**
   * Sends a broadcast of `message` unless the broadcasts still waiting for Redis hold `maxPendingPublishBytes` with
   * it (one larger than the bound on its own goes when nothing waits, as a healthy Redis takes it at once).
   */
  private bounded(channel: string, message: string | Buffer, send: () => Promise<number>): Promise<number> {
    const size = typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
    if (this.bytes.pending > 0 && this.bytes.pending + size > this.bytes.max) {
      return Promise.resolve(this.dropped(channel, new Error(`${this.bytes.pending} bytes of broadcasts already wait for Redis (maxPendingPublishBytes ${this.bytes.max})`)));
    }
    this.bytes.pending += size;
    return send()
      .then(this.published, (error: Error) => this.dropped(channel, error))
      .finally(() => (this.bytes.pending -= size));
  }

  /** A broadcast went out: a watcher waiting since a drop hears that they flow again (one check otherwise). */
  private readonly published = (count: number): number => {
    const watcher = this.watcher();
    if (watcher?.waiting) watcher.flowing();
    return count;
  };

  /** The cluster's masters: the sharded adapter counts the servers with `PUBSUB SHARDNUMSUB` on each. */
  get masters(): unknown {
    return this.cluster?.masters;
  }

  private dropped(channel: string, error: Error): number {
    this.watcher()?.dropped(channel);
    if (!this.warned) this.logger.warn(`Socket.IO adapter: a broadcast was not published (${error.message}); further ones are dropped silently until Redis is back.`);
    this.warned = true;
    return 0;
  }

  /** Raw command (the adapter counts the servers with `PUBSUB NUMSUB`); rejections reach the adapter's caller. */
  sendCommand(args: string[]): Promise<unknown> {
    return this.client.sendCommand(args);
  }

  pSubscribe(): never {
    throw new Error('The adapter publisher cannot subscribe: use the subscriber connection');
  }

  sSubscribe(): never {
    throw new Error('The adapter publisher cannot subscribe: use the subscriber connection');
  }
}

export type { RedisAdapterPublisher };

/**
 * The values of `cluster` besides its nodes, as the module's `redisCluster` checks them: a negative `waitReplicas`
 * made every save wait for a `WAIT` Redis refuses, and a string `waitTimeoutMs` went to Redis as it was.
 */
function assertClusterValues(cluster: RedisClusterOptions): void {
  const { waitReplicas, waitTimeoutMs, defaults, nodeAddressMap } = cluster;
  if (waitReplicas !== undefined && (typeof waitReplicas !== 'number' || !Number.isSafeInteger(waitReplicas) || waitReplicas < 0)) {
    throw new TypeError(`RedisConnections: "cluster.waitReplicas" must be an integer ≥ 0, got ${JSON.stringify(waitReplicas)}`);
  }
  if (waitTimeoutMs !== undefined && (typeof waitTimeoutMs !== 'number' || !Number.isSafeInteger(waitTimeoutMs) || waitTimeoutMs <= 0 || waitTimeoutMs > MAX_TIMER_MS)) {
    throw new TypeError(`RedisConnections: "cluster.waitTimeoutMs" must be a positive integer of milliseconds up to ${MAX_TIMER_MS}, got ${JSON.stringify(waitTimeoutMs)}`);
  }
  for (const [name, value] of [['defaults', defaults], ['nodeAddressMap', nodeAddressMap]] as const) {
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new TypeError(`RedisConnections: "cluster.${name}" must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
    }
  }
}

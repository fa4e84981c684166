import type * as Redis from 'redis';
import type { createClient } from 'redis';
import { LiveTransportError } from '../live-transport.error.js';
import type { ModelChange } from '../model-change.js';
import { ReconnectingTransport } from './reconnecting.transport.js';
import { knownOptions, positiveOption, positiveTimerOption } from '../../common/connection-options.js';
import { RedisConnections, type RedisClient } from '../../common/redis-connections.js';
import { REDIS_PROTOCOL_OPTIONS, REDIS_SOCKET_OPTIONS } from '../../common/redis-protocol.options.js';

type Role = 'publisher' | 'subscriber';

/** Options of {@link RedisTransport}. */
export interface RedisTransportOptions {
  /**
   * Redis URL, e.g. `redis://localhost:6379` or `rediss://user:pass@host:6380/0`: the transport opens its own two
   * connections (named `rx:live:publisher` and `rx:live:subscriber`) in `start` and closes them in `close`. Give
   * either `url` or `connections`. When Redis cannot be reached at `start` (see `startupAttempts`), the app starts
   * all the same and the transport connects in the background, as on `connections`.
   */
  url?: string;
  /**
   * Shared connections to use instead (what the module does with `redisUrl` or `redisCluster`): changes are published
   * on `connections.commands` and received on `connections.subscriber`. `start` waits for them up to their
   * `connectTimeoutMs`, not longer, and not at all once a connection attempt failed (Redis refused it) (`startupAttempts`
   * does not apply): like the rest of the module on these
   * connections, the app starts while Redis
   * is down or a cluster master is dead, the channel is subscribed once Redis answers, and until then the transport
   * counts as down and publishing fails with `unavailable`. `close` unsubscribes and leaves them open.
   */
  connections?: RedisConnections;
  /**
   * Pub/sub channel shared by all workers of one app. Give each app (or environment) sharing a Redis its own.
   * @default 'reflex-bridge:live'
   */
  channel?: string;
  /**
   * Milliseconds `publish` waits for Redis to answer before rejecting with code `timeout`.
   * @default 5000
   */
  publishTimeoutMs?: number;
  /**
   * Upper bound of the delay between reconnection attempts after a lost connection (exponential backoff from
   * 100 ms with jitter). Reconnection never gives up once the transport has started.
   * @default 5000
   */
  maxReconnectDelayMs?: number;
  /**
   * Connection attempts `start` waits for (a Redis restarting with the app has that long to answer) before it
   * resolves without Redis: one warning says so, the transport counts as down (`/_health`, `transportStatus$`),
   * publishing fails at once with `unavailable`, and the connections keep trying in the background (the channel is
   * subscribed, and `transportStatus$` emits `up`, once Redis answers). Only for the transport's own connections
   * (`url`).
   * @default 5
   */
  startupAttempts?: number;
  /**
   * Largest change, in bytes (its JSON in UTF-8), this transport publishes or accepts. A larger one is refused at
   * `publish` with code `payload_too_large`, and one arriving on the channel (anyone who can PUBLISH there) is
   * dropped before it is parsed, counted ({@link RedisTransport.droppedOversized}) and logged at most once a minute.
   * The module's own changes weigh a few hundred bytes; the default leaves `data` eight times Postgres' limit.
   * Give every worker the same value.
   * @default 65536
   */
  maxMessageBytes?: number;
}

/** The keys of {@link RedisTransportOptions}: any other is refused. */
const REDIS_TRANSPORT_OPTIONS: readonly (keyof RedisTransportOptions)[] = [
  'url',
  'connections',
  'channel',
  'publishTimeoutMs',
  'maxReconnectDelayMs',
  'startupAttempts',
  'maxMessageBytes',
];

/**
 * Resolves once one of `clients` has reported `attempts` errors (failed connection attempts: node-redis emits one
 * per attempt) while not ready: Redis is not reachable now. `stop` takes its listeners back.
 */
function attemptsFailed(clients: readonly RedisClient[], attempts: number): { promise: Promise<void>; stop: () => void } {
  const stops: Array<() => void> = [];
  const promise = new Promise<void>((resolve) => {
    for (const client of clients) {
      let failed = 0;
      const onError = () => {
        if (!client.isReady && ++failed >= attempts) resolve();
      };
      client.on('error', onError);
      stops.push(() => client.off('error', onError));
    }
  });
  return { promise, stop: () => stops.forEach((stop) => stop()) };
}

/**
 * The warning for a node of a Redis Cluster that failed or stopped answering (the cluster connection's `error`, once
 * per outage). Unlike one Redis, the other nodes carry on: publishes go to one node and move to another that answers
 * (see `RedisClusterClient.publish`), and the classic channel, carried by one node, moves when that node stops
 * answering a PING or a SUBSCRIBE (see `RedisClusterClient.moveClassicChannels`).
 */
function clusterNodeFailed(role: Role, safeUrl: string, reason: string): string {
  const what =
    role === 'subscriber'
      ? 'changes still reach this worker, unless that node carried its subscription: then the subscription moves to another node after redisCluster.waitTimeoutMs + 1 s, and changes published until then do not reach this worker.'
      : 'publishing goes on through the nodes that answer; a change that node left unanswered is sent again to another after redisCluster.waitTimeoutMs + 1 s.';
  return `RedisTransport ${role} connection to ${safeUrl}: a node failed or stopped answering (${reason}); ${what}`;
}

/**
 * Fans changes out through Redis pub/sub (node-redis 5 or 6): one connection publishes, a second one subscribes
 * (a subscribed Redis connection cannot run other commands). Both are its own (`url`), or a worker's shared
 * {@link RedisConnections} (`connections`), where the channel is one subscription among the other users'.
 *
 * - Lost connections are re-established by node-redis with exponential backoff, and node-redis re-issues the
 *   SUBSCRIBE before the connection is reported ready again, so delivery resumes without recreating anything.
 * - `start` connects both connections and subscribes. When Redis cannot be reached within `startupAttempts` (or, on
 *   shared connections, their `connectTimeoutMs`), it resolves without it and logs one warning: the app starts, the
 *   transport counts as down and keeps connecting in the background, and it subscribes once Redis answers.
 *   `close` closes both connections (gracefully when connected).
 * - While the publishing connection is down, `publish` rejects at once with code `unavailable` (the offline
 *   queue is disabled: queueing would make callers hang for as long as Redis is away and then flood it), and
 *   with `timeout` when Redis does not answer within `publishTimeoutMs`.
 * - Pub/sub delivers at most once: changes published while a worker's subscriber connection is down never reach
 *   that worker. Live lists that must not miss an update should re-query when the connection is back
 *   (`LiveBroadcaster.transportStatus$` emits `up`; the log says `...is back`).
 * - Each change carries its publisher's id and sequence number; duplicates and stale changes are dropped.
 * - Messages are bounded by `maxMessageBytes` both ways: refused at publish, dropped unparsed on arrival.
 * @publicApi
 */
export class RedisTransport extends ReconnectingTransport<typeof Redis> {
  /** The channel used when none is given. */
  static readonly DEFAULT_CHANNEL = 'reflex-bridge:live';
  /** The `maxMessageBytes` used when none is given: 64 KiB. */
  static readonly DEFAULT_MAX_MESSAGE_BYTES = 65_536;

  private readonly startupAttempts: number;
  private readonly shared?: RedisConnections;
  private readonly down = new Set<Role>();
  /**
   * Publishes that outlived `publishTimeoutMs` and that Redis has not answered yet. While one is, Redis is frozen or
   * far behind (a stopped process, a VM pause, a network black hole keep the connection open): the transport counts
   * as down (`transportStatus$` says `down`, then `up` once Redis answered it, so the app reloads what it built from
   * changes, some of which were lost meanwhile), and publishes fail at once instead of each waiting
   * `publishTimeoutMs` and staying queued in this worker's memory until the thaw.
   */
  private unanswered = 0;
  /**
   * Whether our channel is subscribed. On shared connections `start` does not wait for it (see `openShared`): until it
   * is, changes from the other workers do not reach this one, and the transport counts as down.
   */
  private subscribed = false;
  /** `start` resolved before Redis answered: the moment live changes flow is logged. */
  private startedDown = false;
  /** Why the latest connection attempt failed, for the warning of a start without Redis. */
  private lastFailure?: string;
  private publisher?: RedisClient;
  private subscriber?: RedisClient;
  /** Our subscription's listener, to unsubscribe exactly it from a shared subscriber. */
  private readonly onMessage = (message: string) => this.receive(message);
  /** Our listeners on shared connections, removed at close: they outlive the transport. */
  private readonly listeners: { client: RedisClient; event: 'error' | 'ready'; listener: (error: Error) => void }[] = [];

  /** @param options see {@link RedisTransportOptions}. */
  constructor(options: RedisTransportOptions) {
    if (options?.connections !== undefined) {
      if (!(options.connections instanceof RedisConnections)) throw new TypeError('RedisTransport: "connections" must be a RedisConnections');
      if (options.url !== undefined) throw new TypeError('RedisTransport: give either "url" or "connections", not both');
    } else if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisTransport: "url" must be a Redis URL such as redis://localhost:6379');
    }
    knownOptions('RedisTransport', options, REDIS_TRANSPORT_OPTIONS);
    const channel = options.channel ?? RedisTransport.DEFAULT_CHANNEL;
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('RedisTransport: "channel" must be a non-empty string');
    }
    super({
      name: 'RedisTransport',
      // Only ever shown redacted; shared connections are reached through `connections`, never through this URL.
      url: options.url ?? options.connections!.safeUrl,
      safeUrl: options.connections?.safeUrl,
      channel,
      publishTimeoutMs: positiveTimerOption('RedisTransport', 'publishTimeoutMs', options.publishTimeoutMs, 5000),
      // node-redis runs the reconnection loop; only its ceiling is an option.
      minReconnectDelayMs: 100,
      maxReconnectDelayMs: positiveTimerOption('RedisTransport', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 5000),
      driverHint: 'the "redis" package (node-redis 5 or 6): npm install redis',
      connectPhrase: 'connect to',
      deliveryNoun: 'message',
      maxMessageBytes: positiveOption('RedisTransport', 'maxMessageBytes', options.maxMessageBytes, RedisTransport.DEFAULT_MAX_MESSAGE_BYTES),
    });
    this.startupAttempts = positiveOption('RedisTransport', 'startupAttempts', options.startupAttempts, 5);
    this.shared = options.connections;
  }

  /** As the base's, and logs when live changes flow at last after a start without Redis. */
  protected override connectionChanged(): void {
    super.connectionChanged();
    if (this.startedDown && this.isConnected()) {
      this.startedDown = false;
      this.logger.log(`RedisTransport: subscribed to "${this.channel}" on ${this.safeUrl}; live changes flow.`);
    }
  }

  // Loaded on first use so applications that never use Redis need not install it.
  protected override async loadDriver(): Promise<typeof Redis> {
    return import('redis');
  }

  /**
   * Opens the transport's own connections and subscribes. Like the shared connections (see {@link openShared}), it
   * does not hold the app's bootstrap for a Redis that is down: after `startupAttempts` failed attempts of either
   * connection it resolves, node-redis keeps connecting in the background (it never gives up until `close`), and
   * the channel is subscribed once both are ready. A SUBSCRIBE that a Redis which answers refuses (an ACL without the
   * channel) still fails `start`: that is a configuration to fix, not an outage to wait out.
   */
  protected override async open(redis: typeof Redis): Promise<void> {
    if (this.shared) return this.openShared(this.shared);
    const publisher = (this.publisher = this.connection(redis.createClient, 'publisher'));
    const subscriber = (this.subscriber = this.connection(redis.createClient, 'subscriber'));
    const failures = attemptsFailed([publisher, subscriber], this.startupAttempts);
    // connect() settles once the client is ready, or when close() stopped it; a closed client's rejection is moot.
    const connected = Promise.all([publisher.connect(), subscriber.connect()]).then(
      () => true,
      () => false,
    );
    let up: boolean;
    try {
      up = await Promise.race([connected, failures.promise.then(() => false)]);
    } finally {
      failures.stop();
    }
    if (up && !this.isClosed()) {
      try {
        await subscriber.subscribe(this.channel, this.onMessage);
        this.subscribed = true;
      } catch (error) {
        // Nothing stays open after a failed start: a retried start() begins from scratch.
        this.publisher = this.subscriber = undefined;
        this.down.clear();
        await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
        throw error;
      }
    }
    // close() ran while connecting: it may have found the clients half-open, so shut them down once more.
    if (this.isClosed()) {
      await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
      return;
    }
    if (up) return;
    void connected.then((ready) => {
      if (ready) return this.subscribeChannel(subscriber, 0);
    });
    this.startWithoutRedis();
  }

  /**
   * Subscribes on the shared subscriber. node-redis re-subscribes it after every reconnection, before it reports the
   * connection ready, so nothing needs re-creating here; our listeners only log the outage in the transport's words.
   *
   * It does not wait for Redis: the rest of the module on these connections (states, sessions, the adapter) starts
   * while Redis is down, or while a cluster master is dead and not yet replaced (up to `cluster-node-timeout`, 15 s by
   * default, then an election), and serves structured errors until it is back. Failing the bootstrap here instead
   * made the process manager restart the app until Redis was whole again. So when the connections are not ready
   * within their `connectTimeoutMs`, or one of their connection attempts failed (Redis refused it), `start` resolves and the subscription completes in the background (the
   * subscriber's queue holds it until the connection is up); meanwhile the transport counts as down (`/_health`,
   * `transportStatus$`) and publishing fails at once (`unavailable`).
   */
  private async openShared(connections: RedisConnections): Promise<void> {
    this.publisher = connections.commands;
    // Opened on first use.
    this.subscriber = connections.subscriber;
    for (const [client, role] of [[this.publisher, 'publisher'], [this.subscriber, 'subscriber']] as const) {
      for (const [event, listener] of this.watch(client, role)) this.listeners.push({ client, event, listener });
    }
    const subscribed = this.subscribeChannel(this.subscriber, 0);
    // With Redis up, `start` resolves once both connections are ready and the channel is subscribed, as with
    // connections of its own (the subscription alone is not enough: the command connection may connect later, and a
    // publish right after start would fail). When the connections are not ready within their `connectTimeoutMs`, it
    // resolves without them, and at once when one of them fails to connect (Redis refused it, or is not there):
    // Redis is unreachable now, and a publish made right after start is refused `unavailable` at once rather than
    // waiting out `connectTimeoutMs` (5 s by default) behind the start.
    if (!connections.unreachable) {
      const failed = attemptsFailed([this.publisher, this.subscriber], 1);
      try {
        await Promise.race([connections.ready().then(() => subscribed, () => undefined), failed.promise]);
      } finally {
        failed.stop();
      }
    }
    // The channel may be subscribed (a cluster's classic channels live on any one node) while commands are not.
    if (!(this.subscribed && this.publisher?.isReady && this.subscriber?.isReady) && !this.isClosed()) this.startWithoutRedis();
  }

  /**
   * `start` resolves without Redis: said once, here. The connections that are not up count as down from now on, so
   * that their further failed attempts are logged at debug level instead of as one more warning each.
   */
  private startWithoutRedis(): void {
    this.startedDown = true;
    if (!this.publisher?.isReady) this.down.add('publisher');
    if (!this.subscriber?.isReady) this.down.add('subscriber');
    const reason = this.lastFailure === undefined ? '' : ` (${this.lastFailure})`;
    this.logger.warn(
      `RedisTransport: ${this.safeUrl} is not reachable yet; started without it${reason}. Live changes are not sent or ` +
        `received (publishing fails with "unavailable") until the channel "${this.channel}" is subscribed.`,
    );
  }

  /** Subscribes the channel; a refused subscription is tried again after a backoff. */
  private async subscribeChannel(subscriber: RedisClient, attempt: number): Promise<void> {
    try {
      await subscriber.subscribe(this.channel, this.onMessage);
    } catch (error) {
      if (this.isClosed() || this.subscriber !== subscriber || this.shared?.isClosed) return;
      this.logger.warn(`RedisTransport could not subscribe to "${this.channel}" on ${this.safeUrl} (${(error as Error)?.message ?? String(error)}); trying again.`);
      await new Promise((resolve) => setTimeout(resolve, this.reconnectDelay(attempt)).unref());
      if (this.isClosed() || this.subscriber !== subscriber) return;
      return this.subscribeChannel(subscriber, attempt + 1);
    }
    if (this.isClosed() || this.subscriber !== subscriber) return;
    this.subscribed = true;
    if (this.state === 'started') this.connectionChanged();
  }

  /** Started, and both the publishing and the subscribed connection are ready. */
  override isConnected(): boolean {
    return this.state === 'started' && this.subscribed && !!this.publisher?.isReady && !!this.subscriber?.isReady && this.unanswered === 0;
  }

  /**
   * A `PING` on the publishing connection (the subscribed one takes no ordinary commands). It is refused at once
   * while that connection is down (no offline queue), and waits for the answer otherwise, however long a frozen
   * server takes: the caller bounds its wait. With `connections`, the publisher is the shared command connection.
   */
  override async ping(): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) throw this.isClosed() ? new LiveTransportError('closed', 'RedisTransport: closed') : this.notStarted();
    try {
      await publisher.ping();
    } catch (error) {
      throw new LiveTransportError('unavailable', `RedisTransport: ${this.safeUrl} did not answer PING: ${(error as Error)?.message ?? String(error)}`, error);
    }
  }

  protected override async send(payload: string, change: ModelChange): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) throw this.notStarted();
    if (!publisher.isReady) {
      throw new LiveTransportError(
        'unavailable',
        `RedisTransport: not connected to ${this.safeUrl} (reconnecting); the change to "${change.modelLabel}" was not published`,
      );
    }
    if (this.unanswered > 0) {
      throw new LiveTransportError(
        'unavailable',
        `RedisTransport: ${this.safeUrl} is not answering (an earlier PUBLISH is still unanswered after ${this.publishTimeoutMs} ms); the change to "${change.modelLabel}" was not published`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LiveTransportError(
              'timeout',
              `RedisTransport: ${this.safeUrl} did not answer PUBLISH within ${this.publishTimeoutMs} ms`,
            ),
          ),
        this.publishTimeoutMs,
      );
    });
    const published = publisher.publish(this.channel, payload);
    try {
      await Promise.race([published, timeout]);
    } catch (error) {
      if (error instanceof LiveTransportError) {
        if (error.code === 'timeout') this.awaitLateAnswer(published);
        throw error;
      }
      throw new LiveTransportError(
        'unavailable',
        `RedisTransport could not publish to "${this.channel}" on ${this.safeUrl}: ${(error as Error)?.message ?? String(error)}`,
        error,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** A publish timed out: the transport is down until Redis answers it (or the connection drops, which fails it). */
  private awaitLateAnswer(published: Promise<unknown>): void {
    this.unanswered++;
    if (this.unanswered === 1) this.logger.warn(`RedisTransport: ${this.safeUrl} did not answer a PUBLISH within ${this.publishTimeoutMs} ms; publishing fails until it answers.`);
    this.connectionChanged();
    const answered = () => {
      this.unanswered--;
      // Nothing is reported after close.
      if (this.isClosed()) return;
      if (this.unanswered === 0) this.logger.log(`RedisTransport: ${this.safeUrl} answers again.`);
      this.connectionChanged();
    };
    published.then(answered, answered);
  }

  protected override async release(): Promise<void> {
    const clients = [this.publisher, this.subscriber].filter((client): client is RedisClient => !!client);
    const subscriber = this.subscriber;
    this.publisher = this.subscriber = undefined;
    this.subscribed = false;
    if (this.shared) {
      // Shared connections stay open for their owner: take back only our subscription (our listener alone, so
      // another user of the same channel keeps its own) and our event listeners. Not awaited: while Redis is down
      // the UNSUBSCRIBE waits for the reconnection, and a shutdown must not wait for Redis (nothing is delivered to
      // a closed transport anyway).
      for (const { client, event, listener } of this.listeners.splice(0)) client.off(event, listener);
      this.down.clear();
      subscriber?.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
      return;
    }
    await Promise.allSettled(clients.map((client) => this.shutdown(client)));
  }

  private connection(create: typeof createClient, role: Role): RedisClient {
    const client = create({
      ...REDIS_PROTOCOL_OPTIONS,
      url: this.url,
      name: `rx:live:${role}`,
      disableOfflineQueue: true,
      socket: {
        ...REDIS_SOCKET_OPTIONS,
        // Never gives up until close, the first connection included: `start` stops waiting after `startupAttempts`.
        reconnectStrategy: (retries: number) => (this.state === 'closed' ? false : this.reconnectDelay(retries)),
      },
    });
    this.watch(client, role);
    return client;
  }

  /**
   * Logs the outages of one connection in the transport's words. Returns the listeners it added, so that those on
   * a shared connection can be taken back at close.
   */
  private watch(client: RedisClient, role: Role): ['error' | 'ready', (error: Error) => void][] {
    // node-redis emits 'error' for every failed reconnection attempt; without a listener Node would crash.
    const onError = (error: Error) => {
      this.lastFailure = error.message;
      if (this.state === 'closed' || this.state === 'starting') return;
      if (this.down.has(role)) {
        this.logger.debug(`RedisTransport ${role} still disconnected from ${this.safeUrl}: ${error.message}`);
        return;
      }
      this.down.add(role);
      this.connectionChanged();
      this.logger.warn(this.shared?.isCluster ? clusterNodeFailed(role, this.safeUrl, error.message) : `RedisTransport ${role} connection to ${this.safeUrl} failed (${error.message}); reconnecting. ` + (role === 'subscriber' ? 'Changes published until it is back do not reach this worker.' : 'Publishing fails until it is back.'));
    };
    // 'ready' comes after node-redis has re-sent SUBSCRIBE on a reconnected subscriber connection.
    const onReady = () => {
      // After a start without Redis, one line says when live changes flow (see connectionChanged).
      if (this.down.delete(role) && !this.startedDown) {
        this.logger.log(
          `RedisTransport ${role} connection to ${this.safeUrl} is back` +
            (role === 'subscriber' ? `; subscribed to "${this.channel}" again` : ''),
        );
      }
      // Also a first connection after a start that did not wait for it (shared connections): no error may have come
      // before it, and listeners were told `down` at start.
      if (this.state === 'started') this.connectionChanged();
    };
    client.on('error', onError);
    client.on('ready', onReady);
    return [
      ['error', onError],
      ['ready', onReady],
    ];
  }

  private async shutdown(client: RedisClient): Promise<void> {
    try {
      if (client.isReady) await client.close();
      else if (client.isOpen) client.destroy();
    } catch {
      // Already closed: nothing left to release.
    }
  }
}

import type * as Redis from 'redis';
import type { createClient } from 'redis';
import { LiveTransportError } from '../live-transport.error.js';
import type { ModelChange } from '../model-change.js';
import { ReconnectingTransport } from './reconnecting.transport.js';
import { positiveOption } from '../../common/connection-options.js';

type RedisClient = ReturnType<typeof createClient>;
type Role = 'publisher' | 'subscriber';

/** Options of {@link RedisTransport}. */
export interface RedisTransportOptions {
  /** Redis URL, e.g. `redis://localhost:6379` or `rediss://user:pass@host:6380/0`. */
  url: string;
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
   * Connection attempts `start` makes before rejecting, so a wrong URL or a missing server fails the bootstrap
   * instead of hanging it.
   * @default 5
   */
  startupAttempts?: number;
}

/**
 * Fans changes out through Redis pub/sub (node-redis 5): one connection publishes, a second one subscribes
 * (a subscribed Redis connection cannot run other commands).
 *
 * - Lost connections are re-established by node-redis with exponential backoff, and node-redis re-issues the
 *   SUBSCRIBE before the connection is reported ready again, so delivery resumes without recreating anything.
 * - `start` connects both connections and subscribes; it rejects with code `unavailable` when Redis cannot be
 *   reached within `startupAttempts`. `close` closes both connections (gracefully when connected).
 * - While the publishing connection is down, `publish` rejects at once with code `unavailable` (the offline
 *   queue is disabled: queueing would make callers hang for as long as Redis is away and then flood it), and
 *   with `timeout` when Redis does not answer within `publishTimeoutMs`.
 * - Pub/sub delivers at most once: changes published while a worker's subscriber connection is down never reach
 *   that worker. Live lists that must not miss an update should re-query after the `...is back` log line.
 * - Each change carries its publisher's id and sequence number; duplicates and stale changes are dropped.
 */
export class RedisTransport extends ReconnectingTransport<typeof Redis> {
  /** The channel used when none is given. */
  static readonly DEFAULT_CHANNEL = 'reflex-bridge:live';

  private readonly startupAttempts: number;
  private readonly down = new Set<Role>();
  private publisher?: RedisClient;
  private subscriber?: RedisClient;

  /** @param options see {@link RedisTransportOptions}. */
  constructor(options: RedisTransportOptions) {
    if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisTransport: "url" must be a Redis URL such as redis://localhost:6379');
    }
    const channel = options.channel ?? RedisTransport.DEFAULT_CHANNEL;
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('RedisTransport: "channel" must be a non-empty string');
    }
    super({
      name: 'RedisTransport',
      url: options.url,
      channel,
      publishTimeoutMs: positiveOption('RedisTransport', 'publishTimeoutMs', options.publishTimeoutMs, 5000),
      // node-redis runs the reconnection loop; only its ceiling is an option.
      minReconnectDelayMs: 100,
      maxReconnectDelayMs: positiveOption('RedisTransport', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 5000),
      driverHint: 'the "redis" package (node-redis 5): npm install redis',
      connectPhrase: 'connect to',
      deliveryNoun: 'message',
    });
    this.startupAttempts = positiveOption('RedisTransport', 'startupAttempts', options.startupAttempts, 5);
  }

  // Loaded on first use so applications that never use Redis need not install it.
  protected override async loadDriver(): Promise<typeof Redis> {
    return import('redis');
  }

  protected override async open(redis: typeof Redis): Promise<void> {
    const publisher = (this.publisher = this.connection(redis.createClient, 'publisher'));
    const subscriber = (this.subscriber = this.connection(redis.createClient, 'subscriber'));
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
      await subscriber.subscribe(this.channel, (message) => this.receive(message));
    } catch (error) {
      // Nothing stays open after a failed start: a retried start() begins from scratch.
      this.publisher = this.subscriber = undefined;
      this.down.clear();
      await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
      throw error;
    }
    // close() ran while connecting: it may have found the clients half-open, so shut them down once more.
    if (this.isClosed()) await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
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
    try {
      await Promise.race([publisher.publish(this.channel, payload), timeout]);
    } catch (error) {
      if (error instanceof LiveTransportError) throw error;
      throw new LiveTransportError(
        'unavailable',
        `RedisTransport could not publish to "${this.channel}" on ${this.safeUrl}: ${(error as Error)?.message ?? String(error)}`,
        error,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  protected override async release(): Promise<void> {
    const clients = [this.publisher, this.subscriber].filter((client): client is RedisClient => !!client);
    this.publisher = this.subscriber = undefined;
    await Promise.allSettled(clients.map((client) => this.shutdown(client)));
  }

  private connection(create: typeof createClient, role: Role): RedisClient {
    let everReady = false;
    const client = create({
      url: this.url,
      disableOfflineQueue: true,
      socket: {
        reconnectStrategy: (retries: number) => {
          if (this.state === 'closed') return false;
          if (!everReady && retries + 1 >= this.startupAttempts) {
            return new Error(`gave up after ${this.startupAttempts} connection attempts`);
          }
          return this.reconnectDelay(retries);
        },
      },
    });
    // node-redis emits 'error' for every failed reconnection attempt; without a listener Node would crash.
    client.on('error', (error: Error) => {
      if (this.state === 'closed' || this.state === 'starting') return;
      if (this.down.has(role)) {
        this.logger.debug(`RedisTransport ${role} still disconnected from ${this.safeUrl}: ${error.message}`);
        return;
      }
      this.down.add(role);
      this.logger.warn(
        `RedisTransport ${role} connection to ${this.safeUrl} failed (${error.message}); reconnecting. ` +
          (role === 'subscriber'
            ? 'Changes published until it is back do not reach this worker.'
            : 'Publishing fails until it is back.'),
      );
    });
    // 'ready' comes after node-redis has re-sent SUBSCRIBE on a reconnected subscriber connection.
    client.on('ready', () => {
      everReady = true;
      if (this.down.delete(role)) {
        this.logger.log(
          `RedisTransport ${role} connection to ${this.safeUrl} is back` +
            (role === 'subscriber' ? `; subscribed to "${this.channel}" again` : ''),
        );
      }
    });
    return client;
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

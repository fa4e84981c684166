import { Logger } from '@nestjs/common';
import type * as Redis from 'redis';
import type { createClient } from 'redis';
import { LiveTransport } from '../live-transport.js';
import { LiveTransportError } from '../live-transport.error.js';
import { ModelChange } from '../model-change.js';
import { ChangeSequencer } from './change-sequencer.js';
import { positiveOption, redactUrl } from '../../common/connection-options.js';

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
 * - While the publishing connection is down, `publish` rejects at once with code `unavailable` (the offline
 *   queue is disabled: queueing would make callers hang for as long as Redis is away and then flood it).
 * - Pub/sub delivers at most once: changes published while a worker's subscriber connection is down never reach
 *   that worker. Live lists that must not miss an update should re-query after the `...is back` log line.
 * - Each change carries its publisher's id and sequence number; duplicates and stale changes are dropped.
 */
export class RedisTransport extends LiveTransport {
  /** The channel used when none is given. */
  static readonly DEFAULT_CHANNEL = 'reflex-bridge:live';

  /** The pub/sub channel. */
  readonly channel: string;
  private readonly url: string;
  private readonly safeUrl: string;
  private readonly publishTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly startupAttempts: number;
  private readonly sequencer = new ChangeSequencer();
  private readonly logger = new Logger('ReflexBridge');
  private readonly down = new Set<Role>();
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private publisher?: RedisClient;
  private subscriber?: RedisClient;
  private onChange?: (change: ModelChange) => void;
  private badMessageWarned = false;

  /** @param options see {@link RedisTransportOptions}. */
  constructor(options: RedisTransportOptions) {
    super();
    if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisTransport: "url" must be a Redis URL such as redis://localhost:6379');
    }
    const channel = options.channel ?? RedisTransport.DEFAULT_CHANNEL;
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('RedisTransport: "channel" must be a non-empty string');
    }
    this.url = options.url;
    this.safeUrl = redactUrl(options.url);
    this.channel = channel;
    this.publishTimeoutMs = positiveOption('RedisTransport', 'publishTimeoutMs', options.publishTimeoutMs, 5000);
    this.maxReconnectDelayMs = positiveOption('RedisTransport', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 5000);
    this.startupAttempts = positiveOption('RedisTransport', 'startupAttempts', options.startupAttempts, 5);
  }

  /** Connects both connections and subscribes. Rejects with code `unavailable` when Redis cannot be reached. */
  override async start(onChange: (change: ModelChange) => void): Promise<void> {
    if (this.state === 'closed') throw new LiveTransportError('closed', 'RedisTransport: start() after close()');
    if (this.state !== 'new') throw new Error('RedisTransport: start() was already called');
    this.state = 'starting';
    this.onChange = onChange;
    // Loaded on first use so applications that never use Redis need not install it.
    let redis: typeof Redis;
    try {
      redis = await import('redis');
    } catch (error) {
      this.state = 'new';
      throw new Error('RedisTransport needs the "redis" package (node-redis 5): npm install redis', { cause: error });
    }
    const publisher = (this.publisher = this.connection(redis.createClient, 'publisher'));
    const subscriber = (this.subscriber = this.connection(redis.createClient, 'subscriber'));
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
      await subscriber.subscribe(this.channel, (message) => this.receive(message));
    } catch (error) {
      this.publisher = this.subscriber = undefined;
      this.down.clear();
      await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
      if (this.isClosed()) throw new LiveTransportError('closed', 'RedisTransport: closed while starting');
      // Back to 'new' so that a later start() (the broadcaster retries) can try again.
      this.state = 'new';
      throw new LiveTransportError(
        'unavailable',
        `RedisTransport could not connect to ${this.safeUrl}: ${(error as Error)?.message ?? String(error)}`,
        error,
      );
    }
    if (this.isClosed()) {
      await Promise.allSettled([publisher, subscriber].map((client) => this.shutdown(client)));
      throw new LiveTransportError('closed', 'RedisTransport: closed while starting');
    }
    this.state = 'started';
  }

  /**
   * Publishes `change` on the channel.
   * @throws LiveTransportError `unavailable` while disconnected, `timeout` when Redis does not answer in time.
   */
  override async publish(change: ModelChange): Promise<void> {
    if (this.state === 'closed') throw new LiveTransportError('closed', 'RedisTransport: publish() after close()');
    const publisher = this.publisher;
    if (this.state !== 'started' || !publisher) {
      throw new LiveTransportError('not_started', 'RedisTransport: publish() before start() completed');
    }
    const payload = JSON.stringify(this.sequencer.stampIfMissing(change));
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

  /** Closes both connections (gracefully when connected). Idempotent. */
  override async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const clients = [this.publisher, this.subscriber].filter((client): client is RedisClient => !!client);
    this.publisher = this.subscriber = undefined;
    this.onChange = undefined;
    await Promise.allSettled(clients.map((client) => this.shutdown(client)));
  }

  // A method rather than an inline comparison: close() may run while start() awaits, which TypeScript's
  // narrowing of `this.state` cannot see.
  private isClosed(): boolean {
    return this.state === 'closed';
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
          // Exponential backoff with jitter, so that many workers do not reconnect in lock step.
          const delay = Math.min(this.maxReconnectDelayMs, 100 * 2 ** Math.min(retries, 16));
          return Math.round(delay * (0.5 + Math.random() / 2));
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

  private receive(message: string): void {
    if (this.state === 'closed') return;
    let change: ModelChange;
    try {
      change = ModelChange.fromJSON(JSON.parse(message));
    } catch (error) {
      // Something else publishes on our channel: say so once, loudly, and then only at debug level.
      const line = `RedisTransport ignored a message on "${this.channel}" that is not a ModelChange: ${(error as Error).message}`;
      if (this.badMessageWarned) this.logger.debug(line);
      else this.logger.warn(`${line} (further ones are logged at debug level)`);
      this.badMessageWarned = true;
      return;
    }
    if (!this.sequencer.accept(change)) return;
    try {
      this.onChange?.(change);
    } catch (error) {
      this.logger.error(`Live change handler failed: ${(error as Error)?.stack ?? String(error)}`);
    }
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

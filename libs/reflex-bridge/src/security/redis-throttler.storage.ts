import { createHash } from 'node:crypto';
import { Logger, type LoggerService, type OnApplicationShutdown } from '@nestjs/common';
import { knownOptions, positiveTimerOption, redactUrl } from '../common/connection-options.js';
import { RedisConnections, type RedisClient } from '../common/redis-connections.js';
import type { ThrottlerStorageRecord } from './in-memory-throttler.storage.js';
import type { RateLimitStorage } from './rate-limit-storage.js';
import { DEADLINE_PASSED, withinDeadline } from '../common/deadline.js';
import { StallCircuit } from '../common/stall-circuit.js';
import { redisFailureReason } from '../common/fail-fast-redis.options.js';

/** Options of {@link RedisThrottlerStorage}. */
export interface RedisThrottlerStorageOptions {
  /**
   * Redis URL, e.g. `redis://localhost:6379` or `rediss://user:pass@host:6380/0`: the storage opens its own
   * connection (named `rx:throttle:commands`) and closes it in `close()`. Give either `url` or `connections`.
   */
  url?: string;
  /**
   * Shared connections to count on instead (`connections.commands`; what the module does with `redisUrl`). The
   * storage never closes them.
   */
  connections?: RedisConnections;
  /**
   * Prefix of every key. A counter lives at `<prefix><throttler name>:<key>` and expires with its window. Give each
   * app (or environment) sharing a Redis its own.
   * @default 'rx:throttle:'
   */
  keyPrefix?: string;
  /**
   * Milliseconds one count (or the first connection) may take before it rejects. Rate checks sit in front of
   * events, so this is short.
   * @default 1_000
   */
  commandTimeoutMs?: number;
  /**
   * Upper bound of the delay between reconnection attempts after a lost connection (exponential backoff from 50 ms
   * with jitter). Reconnection never gives up until `close()`. Only for the storage's own connection (`url`).
   * @default 2_000
   */
  maxReconnectDelayMs?: number;
  /** Where warnings go. @default new Logger('ReflexBridge') */
  logger?: LoggerService;
}

/** The keys of {@link RedisThrottlerStorageOptions}: any other is refused. */
const REDIS_THROTTLER_STORAGE_OPTIONS: readonly (keyof RedisThrottlerStorageOptions)[] = ['url', 'connections', 'keyPrefix', 'commandTimeoutMs', 'maxReconnectDelayMs', 'logger'];

/**
 * Counts one hit atomically (one Lua script: nothing can slip in between the increment and the expiry).
 * KEYS[1]: the counter. ARGV: window (ms), limit, block duration (ms).
 * Returns `{hits, ms left}`: the hits in the current window and the milliseconds until the counter expires. The
 * first hit over the limit re-arms the expiry to the block duration, so the counter (and the block) ends then and
 * counting starts afresh; later hits leave the expiry alone.
 */
const HIT_SCRIPT = `
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  left = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], left)
end
local block = tonumber(ARGV[3])
if hits == tonumber(ARGV[2]) + 1 and block > 0 then
  left = block
  redis.call('PEXPIRE', KEYS[1], left)
end
return {hits, left}
`;
const HIT_SHA1 = createHash('sha1').update(HIT_SCRIPT).digest('hex');
/** Rejection of the internal timeout; turned into a clear error before it leaves the storage. */
const noop = () => undefined;
/** The logger of the storage's own connection: the storage reports its outages itself, in its own words. */

/**
 * A `@nestjs/throttler` storage in Redis (node-redis 5 or 6), so that every worker counts against the same limits.
 * Same semantics as {@link InMemoryThrottlerStorage} (fixed window, optional block), one key per counter, one
 * round trip per hit.
 *
 * - Connects on first use; call {@link connect} at startup to fail early on a wrong URL.
 * - While Redis is unreachable, counts reject at once (the offline queue is disabled: queueing would hold every
 *   rate-limited event until Redis is back); a count that gets no answer rejects after `commandTimeoutMs`, and
 *   until Redis answers that count (a frozen Redis keeps it), the next ones reject at once without being sent. What a
 *   failed count means is the caller's choice: `ThrottlerGuard` answers HTTP 500, the event pipeline lets the
 *   event through and logs a warning.
 *
 * @example
 * ```ts
 * ThrottlerModule.forRoot({ throttlers: [{ ttl: 60_000, limit: 10 }], storage: new RedisThrottlerStorage({ url }) })
 * ```
 * @publicApi
 */
export class RedisThrottlerStorage implements RateLimitStorage, OnApplicationShutdown {
  /** The key prefix used when none is given. */
  static readonly DEFAULT_KEY_PREFIX = 'rx:throttle:';

  /** Prefix of every key. */
  readonly keyPrefix: string;
  private readonly url?: string;
  private readonly shared?: RedisConnections;
  private connections?: RedisConnections;
  /** Our listeners on the connection, removed at close: a shared connection outlives the storage. */
  private readonly listeners: { event: 'error' | 'ready'; listener: (error: Error) => void }[] = [];
  private readonly safeUrl: string;
  private readonly commandTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly logger: LoggerService;
  private client?: RedisClient;
  private starting?: Promise<void>;
  private firstConnection?: Promise<void>;
  /** Why the connection is down, while it is. */
  private down?: string;
  private closed = false;
  /** Open while a count that outlived `commandTimeoutMs` is unanswered: counts then fail at once. */
  private readonly stall = new StallCircuit();

  /** @param options see {@link RedisThrottlerStorageOptions}. */
  constructor(options: RedisThrottlerStorageOptions) {
    if (options?.connections !== undefined) {
      if (!(options.connections instanceof RedisConnections)) throw new TypeError('RedisThrottlerStorage: "connections" must be a RedisConnections');
      if (options.url !== undefined) throw new TypeError('RedisThrottlerStorage: give either "url" or "connections", not both');
    } else if (typeof options?.url !== 'string' || options.url === '') {
      throw new TypeError('RedisThrottlerStorage: "url" must be a Redis URL such as redis://localhost:6379');
    }
    knownOptions('RedisThrottlerStorage', options, REDIS_THROTTLER_STORAGE_OPTIONS);
    const keyPrefix = options.keyPrefix ?? RedisThrottlerStorage.DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== 'string') throw new TypeError('RedisThrottlerStorage: "keyPrefix" must be a string');
    this.url = options.url;
    this.shared = options.connections;
    this.safeUrl = options.connections?.safeUrl ?? redactUrl(options.url!);
    this.keyPrefix = keyPrefix;
    this.commandTimeoutMs = positiveTimerOption('RedisThrottlerStorage', 'commandTimeoutMs', options.commandTimeoutMs, 1_000);
    this.maxReconnectDelayMs = positiveTimerOption('RedisThrottlerStorage', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 2_000);
    this.logger = options.logger ?? new Logger('ReflexBridge');
  }

  /** Counts one hit. Resolves to 0 when it is allowed, else the milliseconds until the counter lets hits through. */
  async hit(key: string, ttl: number, limit: number, blockDuration: number, throttlerName = 'default'): Promise<number> {
    const [hits, left] = await this.count(key, ttl, limit, blockDuration, throttlerName);
    return hits > limit ? Math.max(1, left) : 0;
  }

  /** `ThrottlerStorage.increment`: the same count as {@link hit}, reported in whole seconds as the throttler expects. */
  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const [hits, left] = await this.count(key, ttl, limit, blockDuration, throttlerName);
    const seconds = Math.ceil(left / 1000);
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? Math.max(1, seconds) : 0 };
  }

  /** Connects now (instead of on first use); rejects when Redis cannot be reached within `commandTimeoutMs`. */
  async connect(): Promise<void> {
    await this.ready();
  }

  /** Closes its own connection (a shared one stays open for its owner). Counts after this reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (client) for (const { event, listener } of this.listeners.splice(0)) client.off(event, listener);
    await this.starting?.catch(noop);
    if (!this.shared) await this.connections?.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private async count(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<[number, number]> {
    if (typeof key !== 'string' || !(ttl > 0) || !(limit >= 0) || !(blockDuration >= 0)) {
      throw new TypeError(`RedisThrottlerStorage: invalid count (ttl ${ttl}, limit ${limit}, blockDuration ${blockDuration})`);
    }
    const client = await this.ready();
    if (this.stall.isOpen) {
      throw new Error(
        `RedisThrottlerStorage could not count a hit on ${this.safeUrl}: Redis is not answering (an earlier count got no answer ` +
          `within ${this.commandTimeoutMs} ms and is still waiting); nothing was sent`,
      );
    }
    const options = { keys: [`${this.keyPrefix}${throttlerName}:${key}`], arguments: [String(Math.ceil(ttl)), String(limit), String(Math.ceil(blockDuration))] };
    const run = async () => {
      try {
        return await client.evalSha(HIT_SHA1, options);
      } catch (error) {
        // The server does not know the script yet (first use, or after a restart): send it once.
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(HIT_SCRIPT, options);
      }
    };
    let reply: unknown;
    try {
      reply = await this.stall.within(run(), this.commandTimeoutMs);
    } catch (error) {
      const reason = error === DEADLINE_PASSED ? `no answer within ${this.commandTimeoutMs} ms` : redisFailureReason(error);
      throw new Error(`RedisThrottlerStorage could not count a hit on ${this.safeUrl}: ${reason}`, { cause: error });
    }
    const [hits, left] = reply as [number, number];
    return [Number(hits), Number(left)];
  }

  /** The connected client; rejects at once while the connection is down. */
  private async ready(): Promise<RedisClient> {
    if (this.closed) throw new Error('RedisThrottlerStorage is closed');
    await (this.starting ??= this.start());
    const client = this.client;
    if (!client || this.closed) throw new Error('RedisThrottlerStorage is closed');
    if (client.isReady) return client;
    if (this.down) throw new Error(`RedisThrottlerStorage: not connected to ${this.safeUrl} (${this.down}); reconnecting in the background.`);
    try {
      await withinDeadline(this.firstConnection ?? Promise.resolve(), this.commandTimeoutMs);
    } catch (error) {
      const reason = error === DEADLINE_PASSED ? `no connection within ${this.commandTimeoutMs} ms` : (error as Error).message;
      throw new Error(`RedisThrottlerStorage could not connect to ${this.safeUrl}: ${reason}`, { cause: error });
    }
    return client;
  }

  private async start(): Promise<void> {
    // Our own connection is created (and the driver loaded) on first use, so apps that never use Redis need not
    // install it; it retries without giving up until close(), failing counts at once while down.
    const connections = await RedisConnections.sharedOr(this.shared, {
      url: this.url!,
      namePrefix: 'rx:throttle:',
      connectTimeoutMs: this.commandTimeoutMs,
      maxReconnectDelayMs: this.maxReconnectDelayMs,
    });
    if (this.closed) {
      if (!this.shared) await connections.close();
      return;
    }
    this.connections = connections;
    this.firstConnection = connections.firstConnection;
    const client = connections.commands;
    this.listen(client, 'error', (error: Error) => {
      if (this.closed) return;
      const first = this.down === undefined;
      this.down = error.message;
      if (first) this.logger.warn(`RedisThrottlerStorage is not connected to ${this.safeUrl} (${error.message}); rate limits cannot count until it is back.`);
    });
    this.listen(client, 'ready', () => {
      if (this.down !== undefined) this.logger.log(`RedisThrottlerStorage connection to ${this.safeUrl} is back.`);
      this.down = undefined;
    });
    this.client = client;
  }

  private listen(client: RedisClient, event: 'error' | 'ready', listener: (error: Error) => void): void {
    client.on(event, listener);
    this.listeners.push({ event, listener });
  }

}

import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { SessionEndings } from '../common/session-endings.js';
import type { ResolvedSessionStoreOptions } from './session-store.options.js';

/** The part of a node-redis client the watcher uses (redis is an optional peer: loaded only when configured). */
type RedisClient = {
  connect(): Promise<unknown>;
  duplicate(): RedisClient;
  quit(): Promise<unknown>;
  destroy(): void;
  readonly isReady: boolean;
  readonly isOpen: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  configGet(parameter: string): Promise<Record<string, string>>;
  configSet(parameter: string, value: string): Promise<unknown>;
  pSubscribe(pattern: string, listener: (message: string, channel: string) => void): Promise<unknown>;
};

/** The keyspace events that mean "this session is gone". `set`, `expire` and the like do not. */
const GONE = new Set(['del', 'unlink', 'expired', 'evicted']);

/** The `notify-keyspace-events` flags needed: keyspace channel, generic (del/unlink), expired, evicted. */
const NEEDED_FLAGS = 'Kgxe';

/**
 * `current` with the flags the watcher needs added. `A` stands for `g$lshzxe` (every class), so it already
 * covers `g`, `x` and `e`.
 */
export function withKeyspaceFlags(current: string): string {
  let flags = current;
  for (const flag of NEEDED_FLAGS) {
    if (flags.includes(flag) || (flag !== 'K' && flags.includes('A'))) continue;
    flags += flag;
  }
  return flags;
}

/**
 * Ends sessions deleted, expired or evicted in Redis itself, on every worker, at once. Each worker subscribes
 * to the keyspace notifications of the session keys, so each hears of every deletion and ends the session
 * locally (reported to {@link SessionEndings}: the event cache drops its snapshot, the connection tracker
 * re-authenticates or disconnects its sockets); nothing needs forwarding between workers.
 *
 * Why: the tracker sees logouts that go through the session store's `destroy`, but a session removed in Redis
 * directly (an admin revoking it, its TTL running out, eviction) would otherwise keep authenticating fast-auth
 * events until its snapshot's TTL, and keep live sockets looking logged in.
 */
@Injectable()
export class SessionStoreWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  private readonly clients: RedisClient[] = [];
  /** The last connection error logged, so a Redis outage logs once rather than per reconnection attempt. */
  private lastError = '';

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly endings: SessionEndings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const config = this.options.sessionStore;
    if (!config) return;
    const { createClient } = await import('redis');
    const commands = createClient({ url: config.redisUrl }) as unknown as RedisClient;
    // A subscribed connection cannot send CONFIG: one connection for commands, one for notifications.
    const subscriber = commands.duplicate();
    this.clients.push(commands, subscriber);
    for (const client of this.clients) {
      client.on('error', (error) => {
        const message = (error as Error).message;
        if (message !== this.lastError) this.logger.warn(`Session store watcher's Redis connection: ${message}`);
        this.lastError = message;
      });
    }
    let connected = false;
    commands.on('ready', () => {
      this.lastError = '';
      // 'ready' comes after every reconnection too: a restarted Redis has forgotten an earlier CONFIG SET.
      if (connected && config.configureNotifications) void this.enableNotifications(commands);
    });
    await Promise.all(this.clients.map((client) => client.connect()));
    connected = true;
    if (config.configureNotifications) await this.enableNotifications(commands);
    else await this.checkNotifications(commands);
    const channelPrefix = `__keyspace@${config.database}__:`;
    await subscriber.pSubscribe(`${channelPrefix}${escapeGlob(config.prefix)}*`, (event, channel) => this.onKeyspaceEvent(config, channelPrefix, event, channel));
  }

  async onApplicationShutdown(): Promise<void> {
    const clients = this.clients.splice(0);
    await Promise.all(
      clients.map(async (client) => {
        // QUIT would wait for a connection that is down: drop such connections at once. `destroy` throws on a
        // client that is already closed, and a shutdown hook that throws makes the process exit with an error.
        const drop = () => {
          if (client.isOpen) client.destroy();
        };
        if (!client.isReady) return drop();
        await client.quit().catch(drop);
      }),
    );
  }

  private onKeyspaceEvent(config: ResolvedSessionStoreOptions, channelPrefix: string, event: string, channel: string): void {
    if (!GONE.has(event)) return;
    const sessionId = channel.slice(channelPrefix.length + config.prefix.length);
    if (sessionId === '') return;
    void this.endings.report({ sessionId, reason: 'deleted', remote: false });
  }

  /** Adds the needed flags to `notify-keyspace-events`, or says what to set when CONFIG is refused. */
  private async enableNotifications(commands: RedisClient): Promise<void> {
    try {
      const current = (await commands.configGet('notify-keyspace-events'))['notify-keyspace-events'] ?? '';
      const wanted = withKeyspaceFlags(current);
      if (wanted !== current) await commands.configSet('notify-keyspace-events', wanted);
    } catch (error) {
      this.logger.warn(
        `Could not turn on Redis keyspace notifications (${(error as Error).message}). Sessions deleted or expired ` +
          `directly in Redis will not end at once: set notify-keyspace-events to include "${NEEDED_FLAGS}" on the ` +
          `Redis server (for example notify-keyspace-events ${NEEDED_FLAGS} in redis.conf or the service's parameters).`,
      );
    }
  }

  /** With `configureNotifications: false`: warns when the server's flags are known to be missing. */
  private async checkNotifications(commands: RedisClient): Promise<void> {
    try {
      const current = (await commands.configGet('notify-keyspace-events'))['notify-keyspace-events'] ?? '';
      if (withKeyspaceFlags(current) !== current) {
        this.logger.warn(`Redis notify-keyspace-events is "${current}": add "${NEEDED_FLAGS}" so that sessions deleted or expired directly in Redis end at once.`);
      }
    } catch {
      // CONFIG refused: nothing to check; the documentation says what to set.
    }
  }
}

/** Escapes the glob characters of a Redis PSUBSCRIBE pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}

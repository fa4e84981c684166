import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { SessionEndings } from '../common/session-endings.js';
import { RedisConnections, type RedisClient } from '../common/redis-connections.js';
import type { ResolvedSessionStoreOptions } from './session-store.options.js';

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
 *
 * Connections: when the sessions live in the module's `redisUrl`, the watcher uses the worker's shared
 * {@link RedisConnections} (`CONFIG` on the command connection, its pattern subscription on the shared subscriber);
 * sessions in another Redis (`sessionStore.redisUrl`) get two connections of their own, `rx:sessions:commands` and
 * `rx:sessions:subscriber`.
 */
@Injectable()
export class SessionStoreWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  /** Connections opened for a session Redis other than the module's: closed by the watcher. */
  private own?: RedisConnections;
  /** What to undo at shutdown on connections that may be shared (they outlive the watcher). */
  private readonly undo: (() => void)[] = [];

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly endings: SessionEndings,
    @Optional() @Inject(RedisConnections) private readonly shared?: RedisConnections | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const config = this.options.sessionStore;
    if (!config) return;
    const connections =
      this.shared && config.redisUrl === this.options.redisUrl
        ? this.shared
        : (this.own = await RedisConnections.create({ url: config.redisUrl, namePrefix: 'rx:sessions:', logger: this.logger }));
    // A subscribed connection cannot send CONFIG: commands on one connection, notifications on the other.
    const commands = connections.commands;
    const subscriber = connections.subscriber;
    let connected = false;
    const onReady = () => {
      // 'ready' comes after every reconnection too: a restarted Redis has forgotten an earlier CONFIG SET.
      if (connected && config.configureNotifications) void this.enableNotifications(commands);
    };
    commands.on('ready', onReady);
    this.undo.push(() => commands.off('ready', onReady));
    await connections.ready();
    connected = true;
    if (config.configureNotifications) await this.enableNotifications(commands);
    else await this.checkNotifications(commands);
    const channelPrefix = `__keyspace@${config.database}__:`;
    const pattern = `${channelPrefix}${escapeGlob(config.prefix)}*`;
    const listener = (event: string, channel: string) => this.onKeyspaceEvent(config, channelPrefix, event, channel);
    await subscriber.pSubscribe(pattern, listener);
    // Our listener only: another user of the shared subscriber keeps its own subscriptions.
    this.undo.push(() => void subscriber.pUnsubscribe(pattern, listener).catch(() => undefined));
  }

  async onApplicationShutdown(): Promise<void> {
    for (const undo of this.undo.splice(0)) undo();
    // Only connections of our own are closed here; the module closes the shared ones after everything using them.
    await this.own?.close();
    this.own = undefined;
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

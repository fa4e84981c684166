import { CommandNotRoutedError } from './command-not-routed.error.js';
import { REDIS_PROTOCOL_OPTIONS, REDIS_SOCKET_OPTIONS } from './redis-protocol.options.js';

/** What {@link failFastRedisOptions} needs to know about the connection's owner. */
export interface FailFastRedisSettings {
  url: string;
  /** Milliseconds one connection attempt may take. */
  connectTimeoutMs: number;
  /** The longest pause between reconnection attempts. */
  maxReconnectDelayMs: number;
  /** True once the owner was closed: reconnecting stops then. */
  isClosed: () => boolean;
  /** Commands waiting to be sent or answered, at most; more are refused at once (see {@link isQueueFull}). */
  maxPendingCommands?: number;
}

/** `maxPendingCommands` of the library's command connections when none is given (see `RedisConnectionsOptions`). */
export const DEFAULT_MAX_PENDING_COMMANDS = 10_000;

/**
 * The error node-redis rejects a command with when `commandsQueueMaxLength` commands already wait: nothing was sent,
 * because Redis has not answered those yet (stalled, or far behind).
 */
export function isQueueFull(error: unknown): boolean {
  return error instanceof Error && error.message === 'The queue is full';
}

/** What node-redis rejects a command with when it did not send it: its connection is closed, or down (no offline queue). */
const NOT_SENT = new Map([
  ['ClientOfflineError', 'The client is offline'],
  ['ClientClosedError', 'The client is closed'],
]);

/**
 * True when node-redis refused a command without sending it because its connection is down or closed: on a Redis
 * Cluster, the connection of one node (a dead master) while the cluster client as a whole is ready, or no master
 * serves the command's slot in the layout it holds ({@link CommandNotRoutedError}).
 */
export function isNotSent(error: unknown): boolean {
  return error instanceof CommandNotRoutedError || (error instanceof Error && NOT_SENT.get(error.constructor.name) === error.message);
}

/**
 * Error replies with which Redis refuses a command, or a script at its first write, before anything was written:
 * out of memory under `noeviction` (a script that already wrote may go on, so the first write is the one refused), a
 * replica (`READONLY`, e.g. an old master after a failover), a script running too long (`BUSY`), a dataset still
 * loading (`LOADING`), a replica cut off from its master (`MASTERDOWN`); on a Redis Cluster, a command whose slot is
 * not served (`CLUSTERDOWN`, during a failover) or whose keys are split by a slot migration (`TRYAGAIN`): a cluster
 * node checks both before running the command.
 */
const REFUSED_BEFORE_WRITING = /^(?:OOM|READONLY|BUSY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /;

/** True when `error` is a Redis error reply that refused a write before it changed anything (see above). */
export function isRefusedBeforeWriting(error: unknown): boolean {
  return error instanceof Error && REFUSED_BEFORE_WRITING.test(error.message);
}

/**
 * Why a Redis command failed, for an error message or a log line: node-redis's own words, except for a full queue,
 * whose "The queue is full" does not tell an operator that Redis stopped answering.
 */
export function redisFailureReason(error: unknown): string {
  if (isQueueFull(error)) return 'Redis is not answering (maxPendingCommands commands already wait for it); nothing was sent';
  return (error as Error)?.message ?? String(error);
}

/**
 * node-redis client options for the library's own connections: commands fail at once while disconnected
 * instead of queueing until Redis returns (a caller waiting on a queued command would hang), and reconnection
 * backs off exponentially with jitter, so that many workers do not reconnect in lock step, until the owner closes.
 * They include node-redis 5's protocol defaults ({@link REDIS_PROTOCOL_OPTIONS}), which node-redis 6 changed.
 */
export function failFastRedisOptions(settings: FailFastRedisSettings) {
  return {
    ...REDIS_PROTOCOL_OPTIONS,
    url: settings.url,
    disableOfflineQueue: true,
    // A Redis that stops answering but keeps its connection (SIGSTOP, a frozen VM, a network black hole) is never
    // "down": without a bound, every event's commands would pile up in node-redis's queue until it answers.
    ...(settings.maxPendingCommands === undefined ? {} : { commandsQueueMaxLength: settings.maxPendingCommands }),
    socket: {
      ...REDIS_SOCKET_OPTIONS,
      connectTimeout: settings.connectTimeoutMs,
      reconnectStrategy: (retries: number): number | false => {
        if (settings.isClosed()) return false;
        const delay = Math.min(settings.maxReconnectDelayMs, 50 * 2 ** Math.min(retries, 16));
        return Math.round(delay * (0.5 + Math.random() / 2));
      },
    },
  };
}

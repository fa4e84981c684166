import { InvalidOptionError } from '../invalid-option.error.js';
import { assertTimerMs } from '../common/timer-ms.js';
import { LiveTransport } from './live-transport.js';

/** The `live` section of the module options: how model changes fan out. */
export interface LiveOptions {
  /**
   * How changes reach the other workers: `new RedisTransport({ url })`, `new PostgresTransport({
   * connectionString })`, or your own {@link LiveTransport}. The module owns it: it is started at bootstrap and
   * closed at shutdown. The Redis and Postgres transports do not hold the bootstrap for a server that is down: they
   * start without it (one warning; `transportStatus$` says `down`, publishing fails with `unavailable`) and connect
   * in the background.
   * @default a `RedisTransport` on the module's `redisUrl` connections when it is set, else an
   * {@link InProcessTransport} (one process)
   */
  transport?: LiveTransport;
  /**
   * Changes buffered per async-iterator subscriber that has not read them yet. When full, the oldest buffered
   * change is dropped and a warning is logged once for that subscriber. Observable subscribers are pushed to
   * synchronously and have no buffer. Also how many of each label's changes of the last 30 seconds a worker keeps
   * for the live lists that subscribe after loading.
   * @default 1000
   */
  bufferSize?: number;
  /**
   * How long `LiveBroadcaster.publish` waits for its change to come back through the transport (which is when
   * this worker's subscribers receive it) before resolving with 0 and logging a warning.
   * @default 5000
   */
  echoTimeoutMs?: number;
  /**
   * How long the transport must have stayed up again after an outage before every live list on this worker re-reads
   * itself (the changes published meanwhile never reached it). An outage within that time pushes the re-read back, so
   * a transport that flaps (down and up every second) costs one re-read per list once it holds, not one per outage;
   * while it keeps flapping, the lists still re-read at the first `up` once 10 times this long has passed since the
   * first `up` whose re-read is still owed, so they are not left stale for long.
   * @default 2000
   */
  resyncSettleMs?: number;
}

/** {@link LiveOptions} after defaults were merged. */
export interface ResolvedLiveOptions {
  transport: LiveTransport | undefined;
  bufferSize: number;
  echoTimeoutMs: number;
  resyncSettleMs: number;
}

/** The defaults of {@link LiveOptions}, in one place. */
export const DEFAULT_LIVE_OPTIONS = { bufferSize: 1000, echoTimeoutMs: 5000, resyncSettleMs: 2000 } as const;

/** DI token of the {@link LiveOptions} read by `LiveBroadcaster` (optional: defaults apply without it). */
export const LIVE_OPTIONS = Symbol('ReflexBridgeLiveOptions');

const KNOWN = new Set(['transport', 'bufferSize', 'echoTimeoutMs', 'resyncSettleMs']);

function positiveInteger(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(field, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A millisecond option that feeds a Node timer, refused above what the timers honour. */
function timerMs(field: string, value: number | undefined): number | undefined {
  if (value !== undefined) assertTimerMs(field, value);
  return value;
}

/**
 * Merges the defaults into `options` and validates every field; errors name the field as `<prefix>.<field>`.
 * @param prefix the name of this section in the surrounding options object.
 */
export function resolveLiveOptions(options: LiveOptions = {}, prefix = 'live'): ResolvedLiveOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(prefix, 'expected an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`${prefix}.${key}`, 'unknown option');
  }
  if (options.transport !== undefined && !(options.transport instanceof LiveTransport)) {
    throw new InvalidOptionError(`${prefix}.transport`, 'expected an instance of a LiveTransport subclass');
  }
  return {
    transport: options.transport,
    bufferSize: positiveInteger(`${prefix}.bufferSize`, options.bufferSize) ?? DEFAULT_LIVE_OPTIONS.bufferSize,
    echoTimeoutMs:
      timerMs(`${prefix}.echoTimeoutMs`, positiveInteger(`${prefix}.echoTimeoutMs`, options.echoTimeoutMs)) ?? DEFAULT_LIVE_OPTIONS.echoTimeoutMs,
    resyncSettleMs:
      timerMs(`${prefix}.resyncSettleMs`, positiveInteger(`${prefix}.resyncSettleMs`, options.resyncSettleMs)) ?? DEFAULT_LIVE_OPTIONS.resyncSettleMs,
  };
}

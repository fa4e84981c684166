import type { ThrottlerStorage } from '@nestjs/throttler';
import { InvalidOptionError } from '../invalid-option.error.js';

/** One limit: at most `limit` hits per window of `ttlMs` milliseconds. */
export interface RateLimitWindow {
  /** Hits allowed per window. An integer ≥ 1. */
  limit: number;
  /** Length of the window in milliseconds, counted from its first hit. */
  ttlMs: number;
  /**
   * Milliseconds the counter stays blocked after the first refused hit; then counting starts afresh. `0` refuses
   * until the window ends.
   * @default 0
   */
  blockDurationMs?: number;
}

/**
 * The `rateLimit` section of the module options. Handler limits themselves are written with `@nestjs/throttler`'s
 * `@Throttle()` / `@SkipThrottle()` on `@EventHandler()` methods or their `@State()` class.
 */
export interface RateLimitOptions {
  /**
   * The budget of every connection: events it may send, all handlers together (built-in ones such as hydrate
   * included), counted in the process that holds the socket. An event over it is answered with `rate_limited`
   * before it is queued. Large frames count once more per 8,192 characters (binary attachments per 8,192 bytes), and each event of a connection whose
   * `Cookie` header holds 250 cookies or more once more per 250 (the session middleware parses them all for every
   * event); an event also counts once more per 100 distinct key names its frame carries (names no earlier object had
   * cost V8's parser a hidden class each). `false` turns the budget off. Handlers marked `@SkipThrottle()` do not count.
   * @default { limit: 500, ttlMs: 10_000, blockDurationMs: 0 }
   */
  perConnection?: false | RateLimitWindow;
  /**
   * The allowance of WebSocket control frames (ping and pong frames) of every connection, counted on their own, in
   * the process that holds the socket. Past it the socket is not read until the window ends (at most a second at a
   * time, so its heartbeat is still read); a connection that sends one before it joined the event namespace is
   * closed. It stays on with `perConnection: false` and with `rateLimit: false` (at this default): no client needs
   * more, and a flood of them costs the server a frame decode each. Browsers cannot send control frames; other
   * clients keep a WebSocket alive with a ping every few seconds at most. Not `false`.
   * @default { limit: 100, ttlMs: 10_000, blockDurationMs: 0 }
   */
  controlFrames?: RateLimitWindow;
  /**
   * Cookie handoffs per client address: how many times events from one address may change the session cookie
   * (a login, a logout, a handler writing a new session), counted in {@link storage} as handler limits are. Each
   * change parks the new `Set-Cookie` for 30 seconds until the tab fetches it; a client that makes new sessions as
   * fast as its events go would otherwise fill that store (one process keeps 20,000, the oldest give way: other
   * users' logins among them). Past it, the event's session change stays on the server and this connection, but the
   * browser is not sent the cookie: the client gets `rate_limited` with `retryAfterMs` (and the error presenter's
   * toast). `false` turns it off.
   * @default { limit: 100, ttlMs: 30_000, blockDurationMs: 0 }
   */
  cookieHandoffs?: false | RateLimitWindow;
  /**
   * New client states per client address that are kept for the full `stateTtlSeconds`, counted in {@link storage} as
   * handler limits are (every worker together with `redisUrl`). A state is new until a change its tab's own event made
   * gave it that TTL (the app's `modify` and live lists keep a new state short, uncounted); a new state past the budget is kept as an unchanged one is (`unusedStateTtlSeconds`, renewed by each event
   * its tab sends) and asks again at its next change. Its tab works on as before: it loses its state only when left
   * idle past that shorter life. One address opening tabs in a loop could otherwise keep a state for an hour per tab
   * and fill a Redis store, whose other users' saves then fail. `false` turns it off.
   * @default { limit: 60, ttlMs: 60_000, blockDurationMs: 0 }
   */
  newStates?: false | RateLimitWindow;
  /**
   * New tabs per client address: how many client tokens the store has no state for (a new tab, or one whose state
   * expired) may get one per window, counted in {@link storage} as handler limits are. Past it, such a tab's first
   * event (its hydrate) is answered `rate_limited` with `retryAfterMs` and nothing is stored for it; its tab is served
   * once the window ends. A state lives at least `unusedStateTtlSeconds` and holds up to tens of kilobytes of what the
   * tab sent (its page's path and query, its headers): one address opening tabs in a loop made Redis hold 3 GB of
   * such states at once, and with `maxmemory` every other user's events failed. `false` turns it off.
   * @default { limit: 300, ttlMs: 60_000, blockDurationMs: 0 }
   */
  newTabs?: false | RateLimitWindow;
  /**
   * Where `@Throttle` handler limits count: any `@nestjs/throttler` `ThrottlerStorage`.
   * @default a `RedisThrottlerStorage` on `redisUrl` when that is set (every worker shares the counters), else an
   * `InMemoryThrottlerStorage` (this process)
   */
  storage?: ThrottlerStorage;
  /**
   * Key prefix of the `RedisThrottlerStorage` that `redisUrl` creates. Counters live at
   * `<prefix><throttler name>:<state.handler>@<client IP>`.
   * @default 'rx:throttle:'
   */
  keyPrefix?: string;
  /**
   * Handler limits (and cookie handoffs, new states and tabs, and `uploads.maxConcurrentPerAddress`) are keyed by client IP; IPv6
   * addresses are grouped by this prefix length (as `ThrottlerGuard` does), since one client usually holds a whole /64.
   * @default 64
   */
  ipv6SubnetPrefix?: number;
}

/** {@link RateLimitOptions} after defaults were merged; `undefined` sections are off. */
export interface ResolvedRateLimitOptions {
  /** False when `rateLimit: false`: no budget and `@Throttle` is not read. */
  enabled: boolean;
  perConnection: Required<RateLimitWindow> | undefined;
  /** Always set: the control-frame allowance stays on whatever the other limits say. */
  controlFrames: Required<RateLimitWindow>;
  cookieHandoffs: Required<RateLimitWindow> | undefined;
  newStates: Required<RateLimitWindow> | undefined;
  newTabs: Required<RateLimitWindow> | undefined;
  storage: ThrottlerStorage | undefined;
  keyPrefix: string;
  ipv6SubnetPrefix: number;
}

/** The defaults of {@link RateLimitOptions}, in one place. */
export const DEFAULT_RATE_LIMIT_OPTIONS = {
  perConnection: { limit: 500, ttlMs: 10_000, blockDurationMs: 0 },
  controlFrames: { limit: 100, ttlMs: 10_000, blockDurationMs: 0 },
  cookieHandoffs: { limit: 100, ttlMs: 30_000, blockDurationMs: 0 },
  newStates: { limit: 60, ttlMs: 60_000, blockDurationMs: 0 },
  newTabs: { limit: 300, ttlMs: 60_000, blockDurationMs: 0 },
  keyPrefix: 'rx:throttle:',
  ipv6SubnetPrefix: 64,
} as const;

const KNOWN = new Set(['perConnection', 'controlFrames', 'cookieHandoffs', 'newStates', 'newTabs', 'storage', 'keyPrefix', 'ipv6SubnetPrefix']);

/**
 * Validates one {@link RateLimitWindow} option (`limit` an integer ≥ 1, `ttlMs` positive, `blockDurationMs` ≥ 0,
 * no other key) and fills in `blockDurationMs`; errors name `field`.
 */
export function resolveRateLimitWindow(field: string, value: unknown): Required<RateLimitWindow> {
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(field, 'expected false or { limit, ttlMs }');
  for (const key of Object.keys(value)) {
    if (key !== 'limit' && key !== 'ttlMs' && key !== 'blockDurationMs') throw new InvalidOptionError(`${field}.${key}`, 'unknown option');
  }
  const { limit, ttlMs, blockDurationMs = 0 } = value as RateLimitWindow;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidOptionError(`${field}.limit`, `expected an integer ≥ 1, got ${JSON.stringify(limit)}`);
  }
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new InvalidOptionError(`${field}.ttlMs`, `expected a positive number of milliseconds, got ${JSON.stringify(ttlMs)}`);
  }
  if (typeof blockDurationMs !== 'number' || !Number.isFinite(blockDurationMs) || blockDurationMs < 0) {
    throw new InvalidOptionError(`${field}.blockDurationMs`, `expected a number of milliseconds ≥ 0, got ${JSON.stringify(blockDurationMs)}`);
  }
  return { limit, ttlMs, blockDurationMs };
}

/**
 * Merges the defaults into `options` and validates every field; errors name the field as `<prefix>.<field>`.
 * @param prefix the name of this section in the surrounding options object.
 */
export function resolveRateLimitOptions(options: false | RateLimitOptions = {}, prefix = 'rateLimit'): ResolvedRateLimitOptions {
  if (options === false) {
    return {
      enabled: false,
      perConnection: undefined,
      // A flood of control frames is no rate of events an app may want unbounded: it stays at its default.
      controlFrames: { ...DEFAULT_RATE_LIMIT_OPTIONS.controlFrames },
      cookieHandoffs: undefined,
      newStates: undefined,
      newTabs: undefined,
      storage: undefined,
      keyPrefix: DEFAULT_RATE_LIMIT_OPTIONS.keyPrefix,
      ipv6SubnetPrefix: DEFAULT_RATE_LIMIT_OPTIONS.ipv6SubnetPrefix,
    };
  }
  if (options === null || typeof options !== 'object') throw new InvalidOptionError(prefix, 'expected false or an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`${prefix}.${key}`, 'unknown option');
  }
  const storage = options.storage;
  if (storage !== undefined && (storage === null || typeof (storage as ThrottlerStorage).increment !== 'function')) {
    throw new InvalidOptionError(`${prefix}.storage`, 'expected a @nestjs/throttler ThrottlerStorage (an object with increment())');
  }
  const keyPrefix = options.keyPrefix ?? DEFAULT_RATE_LIMIT_OPTIONS.keyPrefix;
  if (typeof keyPrefix !== 'string') throw new InvalidOptionError(`${prefix}.keyPrefix`, `expected a string, got ${JSON.stringify(keyPrefix)}`);
  const ipv6SubnetPrefix = options.ipv6SubnetPrefix ?? DEFAULT_RATE_LIMIT_OPTIONS.ipv6SubnetPrefix;
  if (typeof ipv6SubnetPrefix !== 'number' || !Number.isInteger(ipv6SubnetPrefix) || ipv6SubnetPrefix < 1 || ipv6SubnetPrefix > 128) {
    throw new InvalidOptionError(`${prefix}.ipv6SubnetPrefix`, `expected an integer from 1 to 128, got ${JSON.stringify(ipv6SubnetPrefix)}`);
  }
  const perConnection =
    options.perConnection === false
      ? undefined
      : resolveRateLimitWindow(`${prefix}.perConnection`, options.perConnection ?? DEFAULT_RATE_LIMIT_OPTIONS.perConnection);
  // No `false`: an unbounded flood of ping or pong frames serves no client (see RateLimitOptions.controlFrames).
  if ((options.controlFrames as unknown) === false) {
    throw new InvalidOptionError(`${prefix}.controlFrames`, 'expected { limit, ttlMs }: it cannot be turned off (raise its limit instead)');
  }
  const controlFrames = resolveRateLimitWindow(`${prefix}.controlFrames`, options.controlFrames ?? DEFAULT_RATE_LIMIT_OPTIONS.controlFrames);
  const cookieHandoffs =
    options.cookieHandoffs === false
      ? undefined
      : resolveRateLimitWindow(`${prefix}.cookieHandoffs`, options.cookieHandoffs ?? DEFAULT_RATE_LIMIT_OPTIONS.cookieHandoffs);
  const newStates =
    options.newStates === false ? undefined : resolveRateLimitWindow(`${prefix}.newStates`, options.newStates ?? DEFAULT_RATE_LIMIT_OPTIONS.newStates);
  const newTabs = options.newTabs === false ? undefined : resolveRateLimitWindow(`${prefix}.newTabs`, options.newTabs ?? DEFAULT_RATE_LIMIT_OPTIONS.newTabs);
  return { enabled: true, perConnection, controlFrames, cookieHandoffs, newStates, newTabs, storage, keyPrefix, ipv6SubnetPrefix };
}

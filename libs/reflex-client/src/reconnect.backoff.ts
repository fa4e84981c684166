/** How {@link ReflexClient} reconnects by hand after a dropped connection or a failed attempt. */
export interface ReconnectOptions {
  /**
   * Delay per recent error: the wait before the next attempt is `baseDelayMs × recent errors` (capped at
   * `maxDelayMs`), less a random part of up to half of it. @default 200
   */
  baseDelayMs?: number;
  /** Upper bound of that wait. @default 5000 */
  maxDelayMs?: number;
  /** How long an error counts as recent. @default 60000 */
  windowMs?: number;
  /** Failed attempts in a row after which the client gives up (status `disconnected`). @default Infinity */
  maxAttempts?: number;
  /**
   * Also retry when the very first connection of a `connect()` call fails. When `false`, `connect()` rejects
   * with the first `connect_error` (a refused token, a server that is down) instead. @default false
   */
  retryInitialConnect?: boolean;
}

/** {@link ReconnectOptions} with every default filled in. */
export type ResolvedReconnectOptions = Required<ReconnectOptions>;

/** Fills in the defaults of {@link ReconnectOptions} and checks the numbers. */
export function resolveReconnectOptions(options: ReconnectOptions = {}): ResolvedReconnectOptions {
  const resolved: ResolvedReconnectOptions = {
    baseDelayMs: options.baseDelayMs ?? 200,
    maxDelayMs: options.maxDelayMs ?? 5000,
    windowMs: options.windowMs ?? 60_000,
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
    retryInitialConnect: options.retryInitialConnect ?? false,
  };
  for (const key of ['baseDelayMs', 'maxDelayMs', 'windowMs', 'maxAttempts'] as const) {
    if (!(resolved[key] >= 0)) throw new RangeError(`reconnect.${key} must be a number >= 0.`);
  }
  return resolved;
}

/**
 * The reconnect delay policy of the Reflex frontend: wait `baseDelayMs` times the number of recent errors,
 * capped at `maxDelayMs`. Errors stay "recent" for `windowMs`, so a connection that keeps dropping right after
 * it opens slows down even though each attempt succeeds at first.
 *
 * Each wait is that delay less a random part of up to half of it (Reflex's client has no jitter): the tabs a server
 * restart (or a proxy cutting its WebSockets) dropped at one instant would otherwise come back at one instant, every
 * attempt, each burst of handshakes landing on a server that is just starting.
 */
export class ReconnectBackoff {
  private readonly errors: number[] = [];
  private failedInRow = 0;

  constructor(
    private readonly options: ResolvedReconnectOptions,
    private readonly now: () => number = Date.now,
    /** A number in [0, 1): the share of the jitter taken off each wait. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Failed attempts (connect errors and drops) since the last successful connection. */
  get attempts(): number {
    return this.failedInRow;
  }

  /** True when the client should stop trying (`maxAttempts` reached). */
  get exhausted(): boolean {
    return this.failedInRow >= this.options.maxAttempts;
  }

  /**
   * Records a failure (a `connect_error` or an unexpected disconnect).
   * @returns How long to wait, in milliseconds, before the next attempt: between half of {@link delay} and all of it.
   */
  recordFailure(): number {
    const now = this.now();
    this.errors.push(now);
    this.prune(now);
    this.failedInRow += 1;
    const delay = this.delay();
    return delay - Math.floor((delay / 2) * this.random());
  }

  /** Records a successful connection: the count of failures in a row starts again (recent errors stay). */
  recordSuccess(): void {
    this.failedInRow = 0;
  }

  /** The longest wait before the next attempt, from the errors recorded so far (jitter takes up to half of it off). */
  delay(): number {
    this.prune(this.now());
    return Math.min(this.options.baseDelayMs * this.errors.length, this.options.maxDelayMs);
  }

  /** Forgets all recorded errors. */
  reset(): void {
    this.errors.length = 0;
    this.failedInRow = 0;
  }

  private prune(now: number): void {
    while (this.errors.length > 0 && now - this.errors[0]! > this.options.windowMs) this.errors.shift();
    // Beyond this many errors the cap applies anyway; keep the list short.
    const useful = this.options.baseDelayMs > 0 ? Math.ceil(this.options.maxDelayMs / this.options.baseDelayMs) + 1 : 1;
    if (this.errors.length > useful) this.errors.splice(0, this.errors.length - useful);
  }
}

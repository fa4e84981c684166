/** The delay before the first replacement of a worker that died young. */
export const RESTART_DELAY_MIN_MS = 100;
/** The longest delay between replacements: a database back up is noticed within it. */
export const RESTART_DELAY_MAX_MS = 10_000;
/** A worker that ran this long before it exited was healthy: its replacement starts at the shortest delay again. */
export const STABLE_UPTIME_MS = 30_000;

/** Options of {@link RestartBackoff}; every field defaults to the constant of the same name. */
export interface RestartBackoffOptions {
  minMs?: number;
  maxMs?: number;
  stableUptimeMs?: number;
}

/**
 * How long the cluster primary waits before forking a replacement for a worker that exited. Workers that die young one
 * after the other (their database down, a crash at every first request) each wait twice as long as the last, from
 * {@link RESTART_DELAY_MIN_MS} to {@link RESTART_DELAY_MAX_MS}: forked again at once, they burned a core and flooded the
 * log for as long as the cause lasted. A worker that had run {@link STABLE_UPTIME_MS} or longer resets the delay, so a
 * rare crash of a healthy cluster is replaced at once. It reads no clock: the caller gives each worker's uptime.
 */
export class RestartBackoff {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly stableUptimeMs: number;
  private nextMs: number;

  constructor(options: RestartBackoffOptions = {}) {
    this.minMs = options.minMs ?? RESTART_DELAY_MIN_MS;
    this.maxMs = options.maxMs ?? RESTART_DELAY_MAX_MS;
    this.stableUptimeMs = options.stableUptimeMs ?? STABLE_UPTIME_MS;
    this.nextMs = this.minMs;
  }

  /** The milliseconds to wait before replacing a worker that exited after running `uptimeMs`. */
  delayAfter(uptimeMs: number): number {
    if (uptimeMs >= this.stableUptimeMs) this.nextMs = this.minMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * 2);
    return delay;
  }
}

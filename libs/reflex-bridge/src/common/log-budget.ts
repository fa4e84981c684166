/** Limits of a {@link LogBudget}. */
export interface LogBudgetLimits {
  /** Lines one source (a connection) may log in its whole life. */
  perSource: number;
  /** Lines the whole process may log per window, whatever their source. */
  perWindow: number;
  /** The window, in milliseconds. */
  windowMs: number;
}

/**
 * How many lines reports from browsers may put in the logs: a budget per source (a connection, kept weakly so a
 * closed one is forgotten with it), and one for the whole process per window, because sources come and go (a
 * script reconnecting in a loop). Reflex's limits for `client_error` are 5 per connection and 20 a minute.
 */
export class LogBudget<Source extends object> {
  private readonly perSource = new WeakMap<Source, number>();
  private windowStart = Date.now();
  private inWindow = 0;
  /** Lines refused since a line was last allowed. */
  private dropped = 0;

  constructor(private readonly limits: LogBudgetLimits) {}

  /**
   * Spends one line of `source`'s budget and the process's. `allowed` is false, and nothing is spent, when either
   * is used up. When allowed, `droppedBefore` counts the lines refused since the last allowed one (log it once).
   */
  take(source: Source): { allowed: boolean; droppedBefore: number } {
    const now = Date.now();
    if (now - this.windowStart >= this.limits.windowMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    const used = this.perSource.get(source) ?? 0;
    if (used >= this.limits.perSource || this.inWindow >= this.limits.perWindow) {
      this.dropped++;
      return { allowed: false, droppedBefore: 0 };
    }
    this.perSource.set(source, used + 1);
    this.inWindow++;
    const droppedBefore = this.dropped;
    this.dropped = 0;
    return { allowed: true, droppedBefore };
  }
}

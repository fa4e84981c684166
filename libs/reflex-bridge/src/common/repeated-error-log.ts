/** Limits of a {@link RepeatedErrorLog}. */
export interface RepeatedErrorLogLimits {
  /** Lines one kind of error (one handler, one message) may log per window; its repeats beyond are counted. */
  perKind: number;
  /** Lines all kinds together may log per window: a client can make the message vary (an error quoting its input). */
  perWindow: number;
  /** The window, in milliseconds. */
  windowMs: number;
}

/** What {@link RepeatedErrorLog.take} decided for one error. */
export interface RepeatedErrorVerdict {
  /** Whether to log this one. */
  log: boolean;
  /** When logged: how many errors were counted and not logged since the last line (to say so in this one). */
  notLoggedBefore: number;
}

/**
 * How many lines errors a client can trigger may put in the logs. A handler bug that one input sets off (a number a
 * database column cannot hold, a field read off `undefined`) fails every event a client sends with it: a line with a
 * stack each, at the connection's whole event budget (50 a second), buries the log and costs the worker the writes.
 * Each kind of error (the caller's key: the handler and the message) logs its first {@link RepeatedErrorLogLimits.perKind}
 * lines per window and all kinds together {@link RepeatedErrorLogLimits.perWindow}; the rest are counted, and the
 * next line logged says how many were not. Nothing is lost from the metrics: only the log lines are bounded.
 */
export class RepeatedErrorLog {
  /** Lines logged per kind in this window: at most `perWindow` kinds, as each new one is a line of the window. */
  private readonly kinds = new Map<string, number>();
  private windowStart = -Infinity;
  private inWindow = 0;
  private notLogged = 0;

  constructor(private readonly limits: RepeatedErrorLogLimits) {}

  /** Counts one error of kind `key` (already bounded in length by the caller) and says whether to log it. */
  take(key: string, now = Date.now()): RepeatedErrorVerdict {
    if (now - this.windowStart >= this.limits.windowMs) {
      this.windowStart = now;
      this.inWindow = 0;
      this.kinds.clear();
    }
    const seen = this.kinds.get(key) ?? 0;
    if (seen >= this.limits.perKind || this.inWindow >= this.limits.perWindow) {
      this.notLogged++;
      return { log: false, notLoggedBefore: 0 };
    }
    this.kinds.set(key, seen + 1);
    this.inWindow++;
    const notLoggedBefore = this.notLogged;
    this.notLogged = 0;
    return { log: true, notLoggedBefore };
  }
}

import type { Logger } from '@nestjs/common';
import { LogBudget } from '../common/log-budget.js';
import { logText, ownValue } from '../common/log-text.js';

/** Longest `message` of a report logged, in characters; the rest is counted, not logged. */
const MESSAGE_CHARS = 1000;
/** Longest `error_type` of a report logged, in characters. */
const TYPE_CHARS = 100;

/**
 * Logs the `client_error` reports browsers send, with Reflex's limits (5 per connection, 20 a minute per process)
 * so a broken or hostile page cannot flood the logs. A report is read without calling anything it carries (own
 * string properties only) and its texts are cut and escaped so it cannot forge log lines.
 */
export class ClientErrorLog {
  private readonly budget = new LogBudget<object>({ perSource: 5, perWindow: 20, windowMs: 60_000 });

  constructor(private readonly logger: Logger) {}

  /** Logs one report of `source` (the connection; kept weakly) from the tab holding `token`. Never throws. */
  record(source: object, token: string | undefined, report: unknown): void {
    if (!token) return;
    const { allowed, droppedBefore } = this.budget.take(source);
    if (!allowed) return;
    const isRecord = typeof report === 'object' && report !== null && !Array.isArray(report);
    const message = logText(isRecord ? ownValue(report, 'message') : report, MESSAGE_CHARS);
    const type = logText(ownValue(report, 'error_type'), TYPE_CHARS) || 'unknown';
    const dropped = droppedBefore > 0 ? ` (${droppedBefore} earlier reports over the limits were dropped)` : '';
    this.logger.warn(`client_error from ${token.slice(0, 8)}…: ${type}: ${message}${dropped}`);
  }
}

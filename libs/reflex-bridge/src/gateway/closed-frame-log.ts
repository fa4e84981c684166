import type { Logger } from '@nestjs/common';
import { LogBudget } from '../common/log-budget.js';
import { logText } from '../common/log-text.js';

/** Longest reason logged, in characters (the parser's own messages are short; the rest is counted, not logged). */
const REASON_CHARS = 300;

/**
 * Logs why the `/_event` server's frame guard closed a connection (see `guardedSocketIoParser`): the client is closed
 * without a reason, so an operator whose own frontend sends what the guard refuses (an app payload nested past its
 * limit, say) finds it here. One line per connection, 20 a minute per process: a script reconnecting in a loop to send
 * refused frames cannot flood the logs, and the next line says how many were not logged.
 */
export class ClosedFrameLog {
  private readonly budget = new LogBudget<object>({ perSource: 1, perWindow: 20, windowMs: 60_000 });

  constructor(
    private readonly logger: Logger,
    private readonly path: string,
  ) {}

  /** Logs that the connection of `decoder` is closed for `error`, within the budget. Never throws. */
  readonly record = (decoder: object, error: Error): void => {
    const { allowed, droppedBefore } = this.budget.take(decoder);
    if (!allowed) return;
    const dropped = droppedBefore > 0 ? ` (${droppedBefore} more such closes were not logged)` : '';
    this.logger.warn(`Closed a connection to ${this.path} for a frame it may not send: ${logText(error.message, REASON_CHARS)}${dropped}`);
  };
}

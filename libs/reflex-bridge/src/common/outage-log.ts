import type { LoggerService } from '@nestjs/common';

/**
 * Logs a dependency's outage as two lines, when it starts and when it ends (with how many operations failed in
 * between), instead of one line per failure: while Redis is down every event of every client fails, and a line each
 * (1,540 lines for an 8-second outage with 20 tabs) buries the log and costs the worker as much as the refusals.
 */
export class OutageLog {
  private failures = 0;

  constructor(
    private readonly logger: Pick<LoggerService, 'warn'>,
    /** What is down, as the lines name it ("The state store"). */
    private readonly what: string,
  ) {}

  /** One operation failed because of the dependency. */
  failed(error: unknown): void {
    if (this.failures++ > 0) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`${this.what} is unavailable (${reason}); the operations that fail until it answers again are counted, not logged one by one.`);
  }

  /** One operation reached the dependency: ends the outage, if one was under way. */
  succeeded(): void {
    if (this.failures === 0) return;
    this.logger.warn(`${this.what} answers again; ${this.failures} operations failed while it did not.`);
    this.failures = 0;
  }
}

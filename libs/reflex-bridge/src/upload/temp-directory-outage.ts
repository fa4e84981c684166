import type { LoggerService } from '@nestjs/common';

/**
 * The temp directory's file system failing buffered uploads (a full device, a read-only mount, no permission): logged
 * as one error when it starts, with the file system's own message, and one line when an upload is stored again, with
 * how many were refused in between. A line with a stack per refused upload buried the log while every user retried,
 * and told the operator nothing the first line had not.
 */
export class TempDirectoryOutage {
  private refused = 0;

  constructor(private readonly logger: Pick<LoggerService, 'error' | 'log'>) {}

  /** An upload to `handler` was refused because the file system failed with `cause`. */
  failed(handler: string, cause: unknown): void {
    if (this.refused++ > 0) return;
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.logger.error(
      `Uploads cannot be stored in uploads.tempDirectory (${reason}); first refused: an upload to ${handler}. The uploads refused until one is stored again are counted, not logged one by one.`,
    );
  }

  /** An upload's files were written: ends the outage, if one was under way. */
  stored(): void {
    if (this.refused === 0) return;
    this.logger.log(`Uploads are stored in uploads.tempDirectory again; ${this.refused} uploads were refused while they could not be.`);
    this.refused = 0;
  }
}

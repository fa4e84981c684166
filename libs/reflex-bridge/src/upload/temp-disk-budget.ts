/**
 * The bytes one worker's buffered uploads may hold in `uploads.tempDirectory` at once (`uploads.maxTempBytes`).
 *
 * Each upload takes bytes as its files are written and gives them all back once its temp files were removed. The
 * other upload limits bound one request (`maxTotalBytes`) and how many run at once (`maxConcurrent`), whose product
 * (64 GiB with the defaults) is more than many servers' disks: a few clients could fill the disk the app's own
 * database and logs live on. Past the budget the upload that would pass it fails (`507 upload_storage_full`) and
 * gives back what it held; the uploads already stored go on.
 */
export class TempDiskBudget {
  private used = 0;

  constructor(
    /** The most bytes held at once. */
    readonly maxBytes: number,
  ) {}

  /** Bytes held now, by all buffered uploads of this worker. */
  get heldBytes(): number {
    return this.used;
  }

  /** Takes `bytes` for a write, or nothing (returns false) when that would pass the budget. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  /** Gives back `bytes` taken earlier, once what they were written to is gone. */
  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

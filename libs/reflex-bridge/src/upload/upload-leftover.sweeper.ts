import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { lstat, opendir, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { isPartialCopyName, isTempUploadDirectoryName, isTempUploadFileName } from './upload-leftover-names.js';

/**
 * How long a copy `moveTo` was making must have gone unwritten to be a crash's leftover: a copy in progress writes
 * all the time and is renamed the moment it is whole.
 */
export const PARTIAL_COPY_LEFTOVER_MS = 60 * 60_000;

/**
 * How long a buffered upload's temp directory must have gone unwritten to be a crash's leftover: its files are
 * written while the body arrives, then its handler may read them for as long as it runs (a worker sharing the temp
 * directory may hold one while this one starts), so only a day without a write is taken for certain.
 */
export const TEMP_UPLOAD_LEFTOVER_MS = 24 * 60 * 60_000;

/** What one sweep removed, and where it could not look or remove. */
interface Swept {
  partialCopies: number;
  tempDirectories: number;
  bytes: number;
  /** Folders it could not read and leftovers it could not remove (no permission, a failing device): skipped. */
  failures: number;
  /** The first of them, for the log: its path and the file system's message. */
  firstFailure?: string;
}

/** The codes of a directory that is gone, or never was: nothing to sweep there. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Removes, once at startup and in the background, what uploads interrupted by a crash or a `kill -9` left on disk:
 * the hidden `.reflex-upload-<hex>.partial` copies `UploadFile.moveTo` makes under `uploads.directory` on its way
 * across devices, and the `reflex-upload-<6 chars>` temp directories of buffered uploads in `uploads.tempDirectory`.
 * The handlers that would have removed them never ended, so nothing else ever would: a crash mid-move of a 1 GiB file
 * left 1 GiB hidden among the served files for good.
 *
 * Only what the library names that way, only entries that are what it made (regular files; a temp directory holding
 * only its numbered files), only when unwritten for longer than any live upload leaves them
 * ({@link PARTIAL_COPY_LEFTOVER_MS}, {@link TEMP_UPLOAD_LEFTOVER_MS}: several workers may share both directories), and
 * never through a symbolic link. A folder it cannot read or a leftover it cannot remove (no permission, a failing
 * device) is passed over, and the rest swept. Logged once, when something was removed or passed over.
 */
@Injectable()
export class UploadLeftoverSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions) {}

  onApplicationBootstrap(): void {
    // In the background: walking a large `uploads.directory` must not hold the app's start.
    this.running = this.sweep();
  }

  /** The sweep stops at its next entry and is waited for, so nothing of it outlives the app. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /**
   * One sweep, as each start runs it: removes the leftovers unwritten since `now` less their bounds, and logs what it
   * removed or passed over. Never rejects. Nothing to do when uploads are off.
   */
  async sweep(now = Date.now()): Promise<void> {
    const uploads = this.options.uploads;
    if (!uploads) return;
    const swept: Swept = { partialCopies: 0, tempDirectories: 0, bytes: 0, failures: 0 };
    await this.sweepPartialCopies(uploads.directory, now - PARTIAL_COPY_LEFTOVER_MS, swept);
    await this.sweepTempDirectories(uploads.tempDirectory, now - TEMP_UPLOAD_LEFTOVER_MS, swept);
    if (swept.partialCopies + swept.tempDirectories + swept.failures === 0) return;
    // One unreadable folder (a volume's lost+found, another user's folder) used to end the whole sweep at start after
    // start, the temp directories never swept: it is passed over and said here, once.
    const passedOver =
      swept.failures === 0
        ? ''
        : ` Passed over ${swept.failures} folder(s) or file(s) it could not read or remove (the first: ${swept.firstFailure}); leftovers there stay until a start can reach them.`;
    this.logger.warn(
      `Removed what uploads interrupted by a crash left behind (${swept.bytes} bytes): partial copies of UploadFile.moveTo under uploads.directory: ${swept.partialCopies}; temp directories of buffered uploads in uploads.tempDirectory: ${swept.tempDirectories}.${passedOver}`,
    );
  }

  /** Counts a folder or file the sweep could not read or remove (a missing one is not a failure). */
  private passOver(path: string, error: unknown, swept: Swept): void {
    if (isMissing(error)) return;
    swept.failures += 1;
    swept.firstFailure ??= `${path}: ${(error as Error)?.message ?? String(error)}`;
  }

  /** `.partial` copies anywhere under `root`, not written since `before`; symbolic links are not followed. */
  private async sweepPartialCopies(root: string, before: number, swept: Swept): Promise<void> {
    const pending = [root];
    for (let path = pending.pop(); path !== undefined && !this.stopped; path = pending.pop()) {
      try {
        // A Dirent's type is the entry's own (lstat's): a link to a directory is not a directory here.
        for await (const entry of await opendir(path)) {
          if (this.stopped) break;
          const child = join(path, entry.name);
          if (entry.isDirectory()) pending.push(child);
          else if (entry.isFile() && isPartialCopyName(entry.name)) await this.removeFileIfOlder(child, before, swept);
        }
      } catch (error) {
        this.passOver(path, error, swept);
      }
    }
  }

  /** Removes the regular file at `path` unwritten since `before`; counts it. Gone meanwhile is not a failure. */
  private async removeFileIfOlder(path: string, before: number, swept: Swept): Promise<void> {
    try {
      const stats = await lstat(path);
      if (!stats.isFile() || stats.mtimeMs >= before) return;
      await unlink(path);
      swept.partialCopies += 1;
      swept.bytes += stats.size;
    } catch (error) {
      this.passOver(path, error, swept);
    }
  }

  /** Buffered uploads' temp directories directly in `root`, holding only their numbered files, none written since `before`. */
  private async sweepTempDirectories(root: string, before: number, swept: Swept): Promise<void> {
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (error) {
      this.passOver(root, error, swept);
      return;
    }
    for (const entry of entries) {
      if (this.stopped) return;
      if (!entry.isDirectory() || !isTempUploadDirectoryName(entry.name)) continue;
      const path = join(root, entry.name);
      try {
        await this.removeTempDirectoryIfOlder(path, before, swept);
      } catch (error) {
        this.passOver(path, error, swept);
      }
    }
  }

  private async removeTempDirectoryIfOlder(path: string, before: number, swept: Swept): Promise<void> {
    const directory = await lstat(path);
    if (!directory.isDirectory() || directory.mtimeMs >= before) return;
    const files: Array<{ path: string; size: number }> = [];
    for (const entry of await readdir(path, { withFileTypes: true })) {
      // Anything the library does not write there (a link, a folder, another name): not ours alone, left as it is.
      if (!entry.isFile() || !isTempUploadFileName(entry.name)) return;
      const stats = await lstat(join(path, entry.name));
      if (!stats.isFile() || stats.mtimeMs >= before) return;
      files.push({ path: join(path, entry.name), size: stats.size });
    }
    for (const file of files) await unlink(file.path);
    await rmdir(path);
    swept.tempDirectories += 1;
    swept.bytes += files.reduce((sum, file) => sum + file.size, 0);
  }
}

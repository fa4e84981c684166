import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { partialCopyPath } from './upload-leftover-names.js';

/**
 * One uploaded file, as a handler with an `@EventUploads()` parameter receives it. Its bytes are in a temp file on
 * disk (never in memory), which is removed when the handler ends unless the handler moved it away with
 * {@link moveTo}.
 * @publicApi
 */
export class UploadFile {
  private location: string;

  constructor(
    /** The cleaned relative path the client sent (`photos/cat.png`), see `cleanUploadFileName`. */
    readonly name: string,
    /** Size in bytes, as received. */
    readonly size: number,
    /** The content type the client declared: untrusted, check the bytes when it matters. */
    readonly contentType: string,
    path: string,
  ) {
    this.location = path;
  }

  /** Where the bytes are: the temp file, or where {@link moveTo} put them. */
  get path(): string {
    return this.location;
  }

  /** Reads the file from disk. */
  stream(): Readable {
    return createReadStream(this.location);
  }

  /**
   * Moves the file to `destination` (a file path; its directory is created if missing), so it outlives the handler.
   * A rename where possible, else (another device) a copy beside `destination`, renamed over it once whole, and an
   * unlink. An existing file at `destination` is replaced, never left half written: when the copy fails (its disk is
   * full) the existing file stays as it was and no partial copy is left. The app chooses `destination`: build it
   * from {@link name} only under a directory of your own.
   */
  async moveTo(destination: string): Promise<void> {
    await mkdir(dirname(destination), { recursive: true });
    try {
      await rename(this.location, destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      // Copying onto `destination` itself truncated the file it replaced first: a copy that failed midway (a full
      // disk) destroyed the app's stored file, or left a half one that was served as it was.
      // A crash before the rename leaves it behind: the next start removes it (see UploadLeftoverSweeper).
      const partial = partialCopyPath(destination);
      try {
        await copyFile(this.location, partial);
        await rename(partial, destination);
      } catch (copyError) {
        await rm(partial, { force: true }).catch(() => undefined);
        throw copyError;
      }
      await unlink(this.location);
    }
    this.location = destination;
  }
}

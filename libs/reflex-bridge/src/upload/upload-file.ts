import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';

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
   * A rename where possible, else (another device) a copy and an unlink. An existing file at `destination` is
   * replaced. The app chooses `destination`: build it from {@link name} only under a directory of your own.
   */
  async moveTo(destination: string): Promise<void> {
    await mkdir(dirname(destination), { recursive: true });
    try {
      await rename(this.location, destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      await copyFile(this.location, destination);
      await unlink(this.location);
    }
    this.location = destination;
  }
}

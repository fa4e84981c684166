import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * The names of what uploads leave on disk while they run, in one place: the code that makes them and the sweep that
 * removes those a crash left ({@link UploadLeftoverSweeper}) must agree, and the sweep touches nothing else.
 */

/** Prefix of one buffered upload's temp directory under `uploads.tempDirectory` (`mkdtemp` adds 6 characters). */
export const TEMP_UPLOAD_DIRECTORY_PREFIX = 'reflex-upload-';

/** A temp directory `mkdtemp` made from {@link TEMP_UPLOAD_DIRECTORY_PREFIX}. */
const TEMP_UPLOAD_DIRECTORY = /^reflex-upload-[A-Za-z0-9]{6}$/;
/** A file of such a directory: the uploads' files are numbered in the order sent. */
const TEMP_UPLOAD_FILE = /^\d+$/;
/** A copy `UploadFile.moveTo` makes beside its destination on another device, renamed over it once whole. */
const PARTIAL_COPY = /^\.reflex-upload-[0-9a-f]{16}\.partial$/;

/** The name of one buffered upload's `index`-th file inside its temp directory. */
export function tempUploadFileName(index: number): string {
  return String(index);
}

/**
 * Where `moveTo` copies a file on its way to `destination` across devices: beside it (the same device, so the final
 * rename is atomic), hidden, and named apart from `destination`, whose own name may already be as long as the file
 * system allows.
 */
export function partialCopyPath(destination: string): string {
  return join(dirname(destination), `.reflex-upload-${randomBytes(8).toString('hex')}.partial`);
}

/** Whether `name` (a directory entry's name) is a temp directory of a buffered upload. */
export function isTempUploadDirectoryName(name: string): boolean {
  return TEMP_UPLOAD_DIRECTORY.test(name);
}

/** Whether `name` is a file a buffered upload writes in its temp directory. */
export function isTempUploadFileName(name: string): boolean {
  return TEMP_UPLOAD_FILE.test(name);
}

/** Whether `path`'s last segment is a copy `moveTo` was making. */
export function isPartialCopyName(path: string): boolean {
  return PARTIAL_COPY.test(basename(path));
}

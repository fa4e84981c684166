import { UploadError } from './upload.error.js';

/** Longest cleaned name accepted, in characters: far beyond any real relative path, short of a memory problem. */
export const MAX_UPLOAD_FILE_NAME_LENGTH = 1024;

// C0 and C1 control characters and DEL: NUL truncates paths in C APIs, the rest has no place in a name and can forge
// log lines or headers where the name is echoed.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const DRIVE = /^[A-Za-z]:/;

/**
 * Cleans the file name a client sent with an upload part into a safe relative path, as Reflex does: backslashes count
 * as separators, and `.`, `..` and empty segments are removed, so `../../etc/passwd` becomes `etc/passwd`; of an
 * absolute path or one with a Windows drive (`/photos/cat.png`, `C:\Users\me\cat.png`, `C:cat.png`) only the last
 * part is kept (`cat.png`). The result never starts with `/` or a drive and joined to a directory never leaves it.
 *
 * @throws UploadError 400 `upload_bad_filename` when the name holds a NUL or another control character, is longer than
 * {@link MAX_UPLOAD_FILE_NAME_LENGTH}, or has nothing left after cleaning (`..`, `/`, an empty name).
 * @publicApi
 */
export function cleanUploadFileName(raw: string): string {
  if (CONTROL.test(raw)) throw new UploadError(400, 'upload_bad_filename', 'Upload file names must not contain control characters.');
  const normalized = raw.replace(/\\/g, '/');
  let segments = normalized.split('/').filter((segment) => segment !== '' && segment !== '.' && segment !== '..');
  // Reflex keeps only the name of an absolute path (a folder dropped on the page sends `/folder/cat.png`).
  if (normalized.startsWith('/') || DRIVE.test(normalized)) segments = segments.slice(-1);
  // A drive may sit at the start of what is left (`/C:/x`, `C:x`); strip it until none does.
  while (segments.length > 0 && DRIVE.test(segments[0]!)) {
    const rest = segments[0]!.slice(2);
    if (rest === '' || rest === '.' || rest === '..') segments.shift();
    else segments[0] = rest;
  }
  const name = segments.join('/');
  if (name === '') throw new UploadError(400, 'upload_bad_filename', 'Upload file names must not be empty.');
  if (name.length > MAX_UPLOAD_FILE_NAME_LENGTH) {
    throw new UploadError(400, 'upload_bad_filename', `Upload file names must be at most ${MAX_UPLOAD_FILE_NAME_LENGTH} characters.`, MAX_UPLOAD_FILE_NAME_LENGTH);
  }
  return name;
}

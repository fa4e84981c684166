import fresh from 'fresh';
import type { IncomingHttpHeaders } from 'node:http';

/** What tells a client whether its copy of a stored file is still the file: its `ETag` and `Last-Modified`. */
export interface StoredFileValidators {
  etag: string;
  lastModified: string;
}

/**
 * The validators of a file of `size` bytes last modified at `mtime`. The ETag is strong, made of the size and the
 * modification time to the millisecond, as nginx makes its own: a resumed download (`If-Range`) needs a strong one,
 * and every worker that reads the same file computes the same tag (no inode in it, which differs between hosts).
 */
export function validatorsOf(size: number, mtime: Date): StoredFileValidators {
  return { etag: `"${size.toString(16)}-${Math.max(0, mtime.getTime()).toString(16)}"`, lastModified: mtime.toUTCString() };
}

/**
 * Whether the client's copy is current: `If-None-Match` (weak comparison), else `If-Modified-Since`, and never for a
 * request with `Cache-Control: no-cache` (a reload), as `fresh` (Express's own) decides. Then the answer is `304`.
 */
export function isUnchanged(headers: IncomingHttpHeaders, validators: StoredFileValidators): boolean {
  return fresh(headers, { etag: validators.etag, 'last-modified': validators.lastModified });
}

/**
 * Whether a `Range` still applies under the request's `If-Range` (RFC 9110): with none, yes; with an ETag, only if it
 * is the file's strong ETag; with a date, only if it is the file's `Last-Modified`. Otherwise the file changed since
 * the client got its first part, and the whole file is sent, so no download is spliced from two versions.
 */
export function rangeStillApplies(ifRange: string | string[] | undefined, validators: StoredFileValidators): boolean {
  if (ifRange === undefined) return true;
  if (typeof ifRange !== 'string') return false;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === validators.etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Date.parse(validators.lastModified);
}

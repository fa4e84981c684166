import type { BridgeErrorCode } from './bridge-error.types.js';

/**
 * Why an upload failed.
 *
 * Server codes (from the JSON error body): `upload_headers_missing`, `upload_bad_form` (a malformed multipart body),
 * `upload_bad_args` (the handler's other arguments are not a JSON object), `upload_args_after_files` (they came after
 * the files), `upload_bad_filename` (400), `upload_not_accepted` (404), `upload_idle_timeout` (408: the body stopped
 * arriving for `uploads.idleTimeoutMs`), `state_lock_lost` (409), `unknown_token` (410), `upload_too_large`,
 * `upload_too_many_files`, `upload_args_too_large` (413), `upload_not_multipart` (415), `too_many_uploads` (429:
 * uploads from this client's address already in progress on the worker reached `uploads.maxConcurrentPerAddress`;
 * try again once one of them has finished), `uploads_busy` (503: the worker has `uploads.maxConcurrent` uploads in
 * progress; try again later), `upload_storage_full` (507: the worker's buffered uploads hold `uploads.maxTempBytes`
 * of temp disk already, or its disk is full; try again later), `upload_storage_unavailable` (503: the server cannot
 * write to its temp directory, e.g. a read-only file system; try again later), and the event channel's {@link BridgeErrorCode}s where the reason is the
 * same (`unauthorized`, `forbidden`, `invalid_payload`, `rate_limited`, `handler_error`, `server_stopping` (503: the
 * worker began shutting down before the upload arrived; send it again), ...). A body without a code
 * gets `http_<status>`.
 *
 * Client codes (`status` 0):
 * - `aborted`: the `signal` fired or `cancelUpload()` was called.
 * - `network_error`: no answer: the connection failed or dropped before the response was complete.
 * - `upload_in_progress`: an upload with the same `uploadId` is still in flight; nothing was sent.
 * - `invalid_response`: a success answer whose body is not NDJSON of objects.
 * - `answer_too_large`: the answer grew past the client's `maxUploadAnswerChars` (`limit`); its connection was closed.
 * - `source_error`: reading a file failed, or yielded another number of bytes than its declared `size`.
 * - `invalid_request`: (`useReflexUpload`'s `error` only) `upload()` refused its arguments (a `TypeError`, e.g. a
 *   stream in a browser), kept as `cause`.
 */
export type UploadErrorCode =
  | 'aborted'
  | 'network_error'
  | 'upload_in_progress'
  | 'invalid_response'
  | 'answer_too_large'
  | 'source_error'
  | 'invalid_request'
  | 'upload_headers_missing'
  | 'upload_bad_form'
  | 'upload_bad_args'
  | 'upload_args_after_files'
  | 'upload_bad_filename'
  | 'upload_not_accepted'
  | 'upload_not_multipart'
  | 'unknown_token'
  | 'upload_too_large'
  | 'upload_too_many_files'
  | 'upload_args_too_large'
  | 'upload_idle_timeout'
  | 'too_many_uploads'
  | 'uploads_busy'
  | 'upload_storage_full'
  | 'upload_storage_unavailable'
  | BridgeErrorCode
  | (string & {});

/** Extra facts of an {@link UploadRequestError}. */
export interface UploadRequestErrorDetails {
  /**
   * The limit the server named (413 answers; 408's idle timeout in ms; 429 `too_many_uploads`'s
   * `uploads.maxConcurrentPerAddress`; 503's `uploads.maxConcurrent`; 507's `uploads.maxTempBytes`), or the
   * client's `maxUploadAnswerChars` (`answer_too_large`).
   */
  limit?: number;
  /** Milliseconds to wait before trying again, from the answer's `Retry-After` header (429, 503, 507). */
  retryAfterMs?: number;
  /** The underlying error (the abort reason, a socket error). */
  cause?: unknown;
}

/** A failed upload: the server refused it (an HTTP status with a structured body) or it never completed. */
export class UploadRequestError extends Error {
  /** The HTTP status, or `0` when there was no (complete) answer. */
  readonly status: number;
  /** Stable reason, safe to branch on (see {@link UploadErrorCode}). */
  readonly code: UploadErrorCode;
  /** The server's `detail` message (Reflex's field), or the client's explanation. */
  readonly detail: string;
  /**
   * The limit the server named: 413 answers, a 408 idle timeout (ms), a 429 `too_many_uploads`
   * (`uploads.maxConcurrentPerAddress`), a 503 `uploads_busy` (`uploads.maxConcurrent`), a 507
   * `upload_storage_full` (`uploads.maxTempBytes`); or the client's `maxUploadAnswerChars` (`answer_too_large`).
   */
  readonly limit: number | undefined;
  /**
   * Milliseconds to wait before trying again, when the server said (`Retry-After` on a 429 `too_many_uploads` or
   * `rate_limited`, a 503 `uploads_busy`, `upload_storage_unavailable`, `state_unavailable` or `server_stopping`, a 507
   * `upload_storage_full`). A browser reads the header of a cross-origin answer only when the server
   * exposes it (`Access-Control-Expose-Headers`), as ReflexBridge does for the origins in `corsOrigins`.
   */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, code: UploadErrorCode, detail: string, details: UploadRequestErrorDetails = {}) {
    super(status > 0 ? `Upload refused (${status} ${code}): ${detail}` : `Upload failed (${code}): ${detail}`, {
      cause: details.cause,
    });
    this.name = 'UploadRequestError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.limit = details.limit;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** The error an aborted upload rejects with, carrying the abort reason as its cause. */
export function abortedUploadError(reason: unknown): UploadRequestError {
  return new UploadRequestError(0, 'aborted', 'The upload was aborted.', { cause: reason });
}

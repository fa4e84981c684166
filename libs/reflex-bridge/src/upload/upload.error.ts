import { IntrinsicException } from '@nestjs/common';
import type { BridgeErrorCode } from '../protocol/bridge-error.js';

/**
 * Stable reasons an upload request is refused, sent as `code` beside Reflex's `detail` (codes of the event channel,
 * {@link BridgeErrorCode}, are used where the reason is the same, such as `forbidden`).
 */
export type UploadErrorCode =
  | 'upload_headers_missing'
  | 'upload_not_accepted'
  | 'unknown_token'
  | 'upload_not_multipart'
  | 'upload_bad_form'
  | 'upload_bad_args'
  | 'upload_args_after_files'
  | 'upload_bad_filename'
  | 'upload_too_large'
  | 'upload_too_many_files'
  | 'upload_args_too_large'
  | 'upload_not_found'
  | 'upload_idle_timeout'
  | 'uploads_busy'
  | 'too_many_uploads'
  | 'upload_storage_full'
  | 'upload_storage_unavailable'
  | BridgeErrorCode;

/** The JSON body of a refused upload: Reflex's `detail`, our `code`, and the limit that was passed, if any. */
export interface UploadErrorBody {
  detail: string;
  code: UploadErrorCode;
  limit?: number;
}

/**
 * A refused upload request: the HTTP status and structured body to answer with. Thrown by the multipart parser for
 * bad forms (400), unsupported content types (415), passed limits (413, with the limit in the body) and a client
 * that stopped sending its body (408 `upload_idle_timeout`, with `uploads.idleTimeoutMs` as the limit), and a worker
 * whose buffered uploads hold `uploads.maxTempBytes` already (507 `upload_storage_full`, with that limit; without one
 * when the temp directory's disk itself is full), or a temp directory the worker cannot write (503
 * `upload_storage_unavailable`: read-only, not permitted, not a directory).
 *
 * An `IntrinsicException` (an `Error` all the same): thrown into a streaming handler's loop, it passes through Nest's
 * exception filters, and Nest's own logs every other error as `ERROR [ExceptionsHandler]` with its stack. What a
 * client did wrong (a truncated body, a limit passed) is answered to it, not an error of the app's.
 * @publicApi
 */
export class UploadError extends IntrinsicException {
  constructor(
    /** The HTTP status to answer with. */
    readonly status: number,
    readonly code: UploadErrorCode,
    message: string,
    /** The limit that was passed (bytes or a count), for 413 answers. */
    readonly limit?: number,
  ) {
    super(message);
    this.name = 'UploadError';
  }

  /** The response body: `{"detail", "code", "limit"?}`. */
  toBody(): UploadErrorBody {
    const body: UploadErrorBody = { detail: this.message, code: this.code };
    if (this.limit !== undefined) body.limit = this.limit;
    return body;
  }
}

/**
 * The client went away (or the request was aborted) before its upload finished. Thrown into a streaming handler's
 * `for await` over its {@link UploadChunkIterator}, and rejects the parser's promises; there is nobody left to answer.
 * An `IntrinsicException`, as {@link UploadError}: a user who closes a tab during an upload is not an error for Nest's
 * exception filter to log, when a handler lets it (or its signal's reason) pass.
 * @publicApi
 */
export class UploadAbortedError extends IntrinsicException {
  constructor(message = 'The upload was aborted before it finished.', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UploadAbortedError';
  }
}

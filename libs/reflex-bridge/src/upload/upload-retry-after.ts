import type { UploadErrorBody } from './upload.error.js';

/**
 * Seconds a client is told to wait when what it lacks comes back as other uploads end: a slot of the worker
 * (`uploads.maxConcurrent`) or of its address (`uploads.maxConcurrentPerAddress`), temp disk of the worker's budget
 * (`uploads.maxTempBytes`), the tab's state (its lock, a store failing over), its session (a session store that did not answer in time), a worker
 * that shuts down (another takes the upload). Uploads end in seconds to minutes.
 */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * Seconds a client is told to wait when the temp directory's file system fails (a full device, a read-only mount):
 * an operator has to act, and every tab retrying every few seconds would only add refusals.
 */
export const STORAGE_RETRY_AFTER_SECONDS = 30;

/**
 * The `Retry-After` (in seconds) an upload refusal carries when sending the same upload again later can succeed: the
 * 429 and 503 refusals for capacity (RFC 9110 §10.2.3 and RFC 6585 name the header for both), the 507 of a temp disk
 * with no room, and the 503 of a temp directory, a state store or a session store that cannot be used right now, or of a
 * worker shutting down. `undefined` for every
 * other answer: a refusal of the request itself (400, 413, ...) fails again whenever it is sent, and
 * `state_outcome_unknown` may have been applied (the tab reloads before it sends again).
 */
export function uploadRetryAfterSeconds(body: Partial<UploadErrorBody>): number | undefined {
  switch (body.code) {
    case 'too_many_uploads':
    case 'uploads_busy':
    case 'state_unavailable':
    case 'session_unavailable':
    case 'server_stopping':
      return BUSY_RETRY_AFTER_SECONDS;
    case 'upload_storage_full':
      // With `limit`, the worker's own budget, given back as uploads end; without, the device itself is full.
      return body.limit !== undefined ? BUSY_RETRY_AFTER_SECONDS : STORAGE_RETRY_AFTER_SECONDS;
    case 'upload_storage_unavailable':
      return STORAGE_RETRY_AFTER_SECONDS;
    default:
      return undefined;
  }
}

/**
 * Machine-readable reasons the server gives in a `bridge_error` message. The one definition of the codes: the
 * server (`@reflex-bridge/nest`) imports it from here. Server option names are given where one sets the limit.
 *
 * - `invalid_event`: the frame is not an event object, or its `name` is missing or not a string.
 * - `unknown_handler`: no event handler is registered under that name (private and unmarked methods included).
 * - `invalid_payload`: the payload is not an object, carries forbidden keys, or failed DTO validation.
 * - `payload_too_large`: the frame exceeded the server's size limit (`maxMessageBytes`).
 * - `no_token`: the socket has no client token bound.
 * - `handler_error`: the handler threw; the server state was left as it was before the handler ran.
 * - `unauthorized` / `forbidden`: the bridge tier's guards or middleware denied the event.
 * - `session_unavailable`: the app's session and auth middleware did not finish within the server's limit
 *   (`bridge.middlewareTimeoutMs`; a session store that stopped answering): the handler did not run and nothing was
 *   changed; or the session's save at the end of the event did not: the event's state change stands, its session
 *   change may be lost. Try again.
 * - `state_unavailable`: the server's state store could not be reached; nothing was changed.
 * - `state_outcome_unknown`: the server's state store lost its answer to the save (connection dropped, timeout):
 *   the change may have been applied. Do not resend the event blindly; reload (hydrate) first.
 * - `state_lock_lost`: a long upload handler could no longer hold the client's state lock (the state store stopped
 *   renewing it, or another holder took it over); the upload was cancelled and its later changes were not saved.
 * - `state_too_large`: the change would have taken the state past the server's size cap (`maxStateBytes`);
 *   nothing was changed.
 * - `rate_limited`: a server rate limit refused the event (the connection's budget, or the handler's `@Throttle`);
 *   the handler did not run and nothing was changed. Retry after `retryAfterMs`.
 * - `busy`: too many of this client's events were already waiting on the server (`maxQueuedEvents` /
 *   `maxQueuedBytes`), or too much of its output was still unread (the client reads its socket too slowly);
 *   this one was dropped and nothing was changed. Send it again once earlier events were answered.
 * - `server_stopping`: the server is shutting down (a restart, a deploy): this event was not run and nothing was
 *   changed. Send it again once reconnected (to another worker, or to this one restarted). A connection attempt made
 *   then is refused with a `connect_error` whose `data` carries the same code (see `ConnectionError`).
 * - `upload_too_large`, `upload_too_many_files`, `upload_args_too_large` (`status` 413), `upload_idle_timeout`
 *   (`status` 408), `upload_storage_full` (`status` 507): an upload from this tab passed a server limit (`uploads.*`),
 *   its body stopped arriving, or the server had no temp disk to spare for it; nothing of it was kept. The upload's own HTTP answer carries the same code (see `UploadErrorCode`).
 * - `upload_storage_unavailable` (`status` 503): the server could not write an upload from this tab to its temp
 *   directory (a read-only or otherwise unwritable file system); nothing of it was kept. Try again later.
 */
export type BridgeErrorCode =
  | 'invalid_event'
  | 'unknown_handler'
  | 'invalid_payload'
  | 'payload_too_large'
  | 'no_token'
  | 'handler_error'
  | 'unauthorized'
  | 'forbidden'
  | 'session_unavailable'
  | 'state_unavailable'
  | 'state_outcome_unknown'
  | 'state_lock_lost'
  | 'state_too_large'
  | 'rate_limited'
  | 'busy'
  | 'server_stopping'
  | 'upload_too_large'
  | 'upload_too_many_files'
  | 'upload_args_too_large'
  | 'upload_idle_timeout'
  | 'upload_storage_full'
  | 'upload_storage_unavailable';

/** The body of a `bridge_error` socket message. */
export interface BridgeErrorPayload {
  /** Stable reason, safe to branch on. Typed loosely enough to accept codes added by newer servers. */
  code: BridgeErrorCode | (string & {});
  /** Human-readable explanation. */
  message: string;
  /** The event name the error relates to, when known. */
  event?: string;
  /** Field-level problems (validation), when any. */
  details?: string[];
  /** The HTTP status a guard, exception filter or middleware answered with, when one did. */
  status?: number;
  /** With `rate_limited`: milliseconds until the server accepts such events again. */
  retryAfterMs?: number;
  /**
   * With `server_stopping`, from ReflexBridge: the refused event's payload, as the client sent it, so that the client
   * can send the event again once reconnected (`ReflexClient` does, and does not report the refusal then).
   */
  payload?: Record<string, unknown>;
}

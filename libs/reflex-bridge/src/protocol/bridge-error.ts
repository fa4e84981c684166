/**
 * Machine-readable reasons a client can receive in a `bridge_error` message.
 *
 * - `invalid_event`: the frame is not an event object, or its `name` is missing or not a string.
 * - `unknown_handler`: no event handler is registered under that name (private and unmarked methods included).
 * - `invalid_payload`: the payload is not an object, carries forbidden keys, or failed DTO validation.
 * - `payload_too_large`: the frame exceeded `maxMessageBytes`.
 * - `no_token`: the socket has no client token bound.
 * - `handler_error`: the handler threw; the state was left as it was before the handler ran.
 * - `unauthorized` / `forbidden`: the bridge tier's guards or middleware denied the event.
 * - `state_unavailable`: the state store could not be reached; nothing was changed.
 * - `state_outcome_unknown`: the state store lost its answer to the save (connection dropped, timeout): the change
 *   may have been applied. Do not resend the event blindly; reload (hydrate) first.
 * - `state_too_large`: the event would have taken the client's state past `maxStateBytes`; nothing was changed.
 * - `rate_limited`: a rate limit refused the event (the connection's budget, or the handler's `@Throttle`); the
 *   handler did not run and nothing was changed. `retryAfterMs` says when the limit lets events through again.
 * - `busy`: too many of this client's events are already waiting (`maxQueuedEvents` / `maxQueuedBytes`);
 *   this one was dropped, nothing was changed. Send it again once earlier events were answered.
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
  | 'state_unavailable'
  | 'state_outcome_unknown'
  | 'state_too_large'
  | 'rate_limited'
  | 'busy';

/** The body of a `bridge_error` socket message, the one structured error shape clients receive. */
export interface BridgeErrorPayload {
  /** Stable reason, safe to branch on. */
  code: BridgeErrorCode;
  /** Human-readable explanation; generic for `handler_error` in production. */
  message: string;
  /** The event name the error relates to, when known. */
  event?: string;
  /** Field-level problems (validation), when any. */
  details?: string[];
  /** The HTTP status a guard, exception filter or middleware answered with, when one did. */
  status?: number;
  /**
   * With `rate_limited`: milliseconds until the limit that refused the event lets events through again. Sending
   * again sooner is refused as well (and does not prolong the wait).
   */
  retryAfterMs?: number;
}

/** Name of the socket message that carries a {@link BridgeErrorPayload}. */
export const BRIDGE_ERROR_EVENT = 'bridge_error';

/**
 * An error the pipeline turns into a `bridge_error` for the one client that caused it.
 * Throw it from library code only; handler exceptions are wrapped as `handler_error`.
 */
export class BridgeError extends Error {
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
    readonly details?: string[],
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BridgeError';
  }

  /** The payload sent to the client for this error. */
  toPayload(event?: string): BridgeErrorPayload {
    const payload: BridgeErrorPayload = { code: this.code, message: this.message };
    if (event !== undefined) payload.event = event;
    if (this.details?.length) payload.details = this.details;
    if (this.status !== undefined) payload.status = this.status;
    return payload;
  }
}

import { IntrinsicException } from '@nestjs/common';
import type { BridgeErrorCode, BridgeErrorPayload as ClientBridgeErrorPayload } from '@reflex-bridge/client';

// The error codes are part of the wire protocol: they are defined once, in the client package, which both sides
// speak (see `BridgeErrorCode` there for what each code means).
export type { BridgeErrorCode };

/** The body of a `bridge_error` socket message, the one structured error shape clients receive. */
export interface BridgeErrorPayload extends Omit<ClientBridgeErrorPayload, 'code'> {
  /** Stable reason, safe to branch on. */
  code: BridgeErrorCode;
}

/** Name of the socket message that carries a {@link BridgeErrorPayload}. @publicApi */
export const BRIDGE_ERROR_EVENT = 'bridge_error';

/**
 * An error the pipeline turns into a `bridge_error` for the one client that caused it: the library's refusals
 * (e.g. the `state_lock_lost` reason an upload handler's abort signal fires with). Apps mostly test for it
 * (`instanceof BridgeError`, `code`); one a handler throws reaches its client as it is (message included), while
 * any other exception becomes a `handler_error`. An `IntrinsicException` (an `Error` all the same): a refusal meant for
 * one client is not logged as a server error when it passes through Nest's exception handling on the `full` tier
 * (where a hostile client could otherwise fill the log with one line per event).
 * @publicApi
 */
export class BridgeError extends IntrinsicException {
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
    readonly details?: string[],
    readonly status?: number,
    /** For `rate_limited`: how long until the limit lets the event through again, when known. */
    readonly retryAfterMs?: number,
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
    if (this.retryAfterMs !== undefined) payload.retryAfterMs = this.retryAfterMs;
    return payload;
  }
}

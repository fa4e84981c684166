/**
 * Why a live transport refused or failed an operation:
 * - `payload_too_large`: the serialized change exceeds what the engine carries (Postgres NOTIFY: < 8000 bytes).
 * - `unavailable`: the server cannot be reached right now (connection lost, reconnecting, refused).
 * - `timeout`: the server did not answer in time. The change may still be delivered, once the server acts on what
 *   it was sent (the message says when it was never sent).
 * - `not_started`: `publish` was called before `start`.
 * - `closed`: the transport was closed.
 */
export type LiveTransportErrorCode = 'payload_too_large' | 'unavailable' | 'timeout' | 'not_started' | 'closed';

/**
 * The one error type live transports throw, so callers can branch on {@link LiveTransportError.code} instead of
 * parsing driver-specific messages. The driver's own error, when there is one, is the `cause`.
 * @publicApi
 */
export class LiveTransportError extends Error {
  /**
   * @param code stable reason, safe to branch on.
   * @param message what happened and, where it helps, what to do about it.
   * @param cause the underlying driver error.
   */
  constructor(
    readonly code: LiveTransportErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LiveTransportError';
  }
}

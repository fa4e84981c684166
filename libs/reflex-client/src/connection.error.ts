/**
 * What went wrong with the connection.
 *
 * - `connect_error`: an attempt failed: the server refused it (the message is the server's reason, `data` its
 *   `{ code }`: `no_token` for a missing or malformed token, final; `state_store_unavailable` while the server cannot
 *   reach its state store and `server_stopping` while it shuts down, both passing: the client tries again) or the
 *   transport could not connect.
 * - `disconnect`: an open connection was lost (the server dropped it, the network failed, a ping timed out).
 * - `timeout`: `connect()` did not see the state hydrated within `connectTimeoutMs`.
 * - `gave_up`: `reconnect.maxAttempts` failed attempts in a row.
 * - `closed`: `disconnect()` was called while something (a `connect()`, a `ping()`) was waiting.
 * - `not_connected`: an operation that needs an open socket was called without one.
 * - `handoff_failed`: the connection is fine, but the session cookie an event changed (a login, a logout) could not
 *   be fetched (the handoff was refused, e.g. `403`/`410`, or its URL was malformed): the browser keeps its old
 *   cookie, so the next page load or reconnect has the old session.
 * - `frame_too_large`: the server sent a message past one of the `frameLimits` (too long, nested too deep, or an
 *   update with too many `events`); it was dropped whole, the connection kept. The message names the limit. The
 *   local state may now lag the server's until the next hydration.
 * - `queue_full`: an event was sent (by the app, or asked for by the server in an update, as an upload's answer can)
 *   while the connection was not open and `maxQueuedEvents` events were already waiting, or it would have taken them
 *   past `maxQueuedChars`: it was not queued and will not be sent. Reported once until the queue has room again;
 *   `data` names the first refused event (`{ event, maxQueuedEvents, maxQueuedChars }`) and `client.droppedEvents` counts them all.
 * - `events_unconfirmed`: the connection was lost (reported just before, as `disconnect` or `timeout`) while events the
 *   app sent on it had not been followed by anything from the server (a message, or its heartbeat, every 25 s by
 *   default): on a connection that died silently they may never have arrived, or may have run (a ReflexBridge server
 *   that shuts down tells the client first, and answers all of them before it closes the connection: not reported
 *   then). They are not sent again (an app's `live_subscribe`, which the client sends again on the next connection
 *   itself, is left out).
 *   `data` is `{ events, count }`: the first 100 names, in order, and how many there were.
 */
export type ConnectionErrorKind =
  | 'connect_error'
  | 'disconnect'
  | 'timeout'
  | 'gave_up'
  | 'closed'
  | 'not_connected'
  | 'handoff_failed'
  | 'frame_too_large'
  | 'queue_full'
  | 'events_unconfirmed';

/** Extra facts attached to a {@link ConnectionError}. */
export interface ConnectionErrorDetails {
  /** The Socket.IO disconnect reason, e.g. `io server disconnect` or `transport close`. */
  reason?: string;
  /** The `data` the server attached to a refused connection, if any. */
  data?: unknown;
  /** The underlying error. */
  cause?: unknown;
}

/** A connection problem, as passed to `onConnectionError` listeners and used to reject `connect()` and `ping()`. */
export class ConnectionError extends Error {
  /** What kind of problem this is. */
  readonly kind: ConnectionErrorKind;
  /** The Socket.IO disconnect reason, for `disconnect` errors. */
  readonly reason: string | undefined;
  /** The `data` the server attached to a refused connection, if any. */
  readonly data: unknown;

  constructor(kind: ConnectionErrorKind, message: string, details: ConnectionErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ConnectionError';
    this.kind = kind;
    this.reason = details.reason;
    this.data = details.data;
  }
}

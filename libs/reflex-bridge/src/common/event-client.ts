import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { SharedUpdate } from '../protocol/shared-update.js';
import type { StateUpdate } from '../protocol/state-update.js';

/**
 * What the pipeline knows of the client that sent an event, and how it answers it. The gateway builds one
 * per socket; out-of-band updates build one for whichever socket holds the token.
 */
export interface EventClient {
  /** The client token bound to this socket, if any. */
  readonly token: string | undefined;
  /** The socket id. */
  readonly sid: string;
  /** Handshake headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The socket's peer address. */
  readonly remoteAddress: string;
  /** Sends one `event` message. */
  emitUpdate(update: StateUpdate): void;
  /**
   * Sends one `event` message that other clients receive too, encoding it only once for all of them. Optional:
   * without it, callers send `shared.update` with {@link emitUpdate}.
   */
  emitSharedUpdate?(shared: SharedUpdate): void;
  /** Sends one `bridge_error` message. */
  emitError(error: BridgeErrorPayload): void;
}

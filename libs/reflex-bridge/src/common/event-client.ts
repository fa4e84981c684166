import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { SharedMessage } from '../protocol/shared-message.js';
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
  /**
   * When the socket connected (`Date.now()` time), if it is one; and when its latest page load began, once one did
   * (set by the pipeline at `on_load_internal`). A live list that subscribes replays the changes received since the
   * later of the two: its page's on-load handlers, which load the list, ran after it.
   */
  readonly connectedAt?: number;
  pageLoadedAt?: number;
  /** Handshake headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The socket's peer address. */
  readonly remoteAddress: string;
  /** Sends one `event` message. */
  emitUpdate(update: StateUpdate): void;
  /**
   * Sends one message that other sends repeat exactly (other clients, or further refusals of this one), encoding it
   * only once for all of them. Optional: without it, callers send the message with {@link emitUpdate} or
   * {@link emitError}.
   */
  emitShared?(shared: SharedMessage): void;
  /** Sends one `bridge_error` message. */
  emitError(error: BridgeErrorPayload): void;
  /**
   * True while so much output waits for the client to read that its events wait for it (or are refused) rather than
   * run: checked again when a queued event's turn comes, so that events queued behind a slow handler cannot add output
   * a client does not read (such an event waits for {@link whenOutputDrained}). Optional: a client without it is
   * never held back for this.
   */
  outputBacklogged?(): boolean;
  /** Calls `resume` once the output waiting for the client has mostly been read, or the client has left. */
  whenOutputDrained?(resume: () => void): void;
  /**
   * The router data's headers and client IP, worked out by the pipeline on the connection's first event (they
   * cannot change while it lives) and kept on the client itself: a map keyed by client would cost every open
   * connection an entry. Unset until then.
   */
  routerHeaders?: Readonly<Record<string, string>>;
  routerIp?: string;
  /** The connection's event budget (`rateLimit.perConnection`), counted by the rate limiter: events in the window. */
  budgetHits?: number;
  /** When the budget's window (or block) ends, on the rate limiter's clock. */
  budgetEndsAt?: number;
  /** When a refusal was last shown to this connection's user, on the notices' clock (see `refusal-notices.ts`). */
  refusalShownAt?: number;
}

import type { ServerResponse } from 'node:http';
import type { EventClient } from '../common/event-client.js';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';

/** The content type of a buffered upload's answer: one JSON `StateUpdate` per line. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** Who the upload is from: the token, and the request's headers and peer address (for follow-up events). */
export interface UploadClientIdentity {
  token: string;
  sid: string;
  headers: Readonly<Record<string, string>>;
  remoteAddress: string;
}

/**
 * The client a buffered upload's handler emits to: its deltas become lines of the upload's `200
 * application/x-ndjson` answer (`{"delta": {...}, "events": [], "final": false}`, which Reflex's client feeds to
 * its socket listener), and its client events (redirect, toast) and errors go to the tab's socket (`socket`:
 * the local socket or, on several workers, the token's room; none when the tab is not connected). Once the answer
 * ended, later deltas (from follow-up events) go to the socket too.
 *
 * The answer's head is sent with the first line, so a handler that fails before producing anything still gets a
 * proper error status. A client that leaves more than `maxBacklogBytes` of the answer unread (`maxOutboundBytes`, as
 * for a socket) has its connection closed, which cancels the upload as a client that left does; later deltas go to the
 * socket. Otherwise a client that never read its answer made the server hold every line a long handler wrote.
 */
export class UploadUpdateStream implements EventClient {
  readonly token: string;
  readonly sid: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  private ended = false;

  constructor(
    private readonly response: ServerResponse,
    identity: UploadClientIdentity,
    private readonly socket: EventClient | undefined,
    private readonly maxBacklogBytes = Infinity,
    /** Told once when the answer is cut off for being left unread, with the bytes that waited (for the log). */
    private readonly onCutOff: (unreadBytes: number) => void = () => undefined,
  ) {
    this.token = identity.token;
    this.sid = identity.sid;
    this.headers = identity.headers;
    this.remoteAddress = identity.remoteAddress;
  }

  /** True once the answer's head went out (the status can no longer change). */
  get started(): boolean {
    return this.response.headersSent;
  }

  emitUpdate(update: StateUpdate): void {
    if (update.delta) {
      if (this.ended || this.response.destroyed || this.cutOff()) this.socket?.emitUpdate({ delta: update.delta });
      else this.writeLine({ delta: update.delta, events: [], final: false });
    }
    if (update.events?.length) this.socket?.emitUpdate({ events: update.events });
  }

  emitError(error: BridgeErrorPayload): void {
    this.socket?.emitError(error);
  }

  /**
   * Ends the answer with the `final` line. After a failure that came once lines were sent, the final line carries
   * the structured error as `error` (Reflex's client ignores it; the error itself also went to the socket).
   */
  end(error?: BridgeErrorPayload): void {
    const line: Record<string, unknown> = { delta: {}, events: [], final: true };
    if (error) line.error = error;
    this.writeLine(line);
    this.ended = true;
    // Session middleware that wrapped `end` saves the session now, as on any Express route.
    if (!this.response.destroyed) this.response.end();
  }

  /** Closes the answer of a client that left more than `maxBacklogBytes` of it unread; true when it did. */
  private cutOff(): boolean {
    const unread = this.response.writableLength;
    if (unread <= this.maxBacklogBytes) return false;
    this.response.destroy();
    this.onCutOff(unread);
    return true;
  }

  private writeLine(line: object): void {
    if (!this.response.headersSent) {
      this.response.statusCode = 200;
      this.response.setHeader('Content-Type', NDJSON_CONTENT_TYPE);
      this.response.setHeader('Cache-Control', 'no-store');
      this.response.setHeader('X-Content-Type-Options', 'nosniff');
    }
    if (!this.response.destroyed) this.response.write(`${JSON.stringify(line)}\n`);
  }
}

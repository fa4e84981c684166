import type { EventClient } from '../common/event-client.js';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import type { UploadClientIdentity } from './upload-update.stream.js';

/**
 * The tab an upload belongs to, as it is at each send: whatever socket holds the upload's token at that moment
 * (`current`, the gateway's lookup), not the one it had when the upload began. An upload may last minutes, and a
 * tab whose connection dropped meanwhile reconnects with the same token on a new socket: what the handler sends
 * later (its deltas, the toast it returns, its error) must reach that socket, not the closed one. While the tab
 * has no socket, what is sent is dropped, as for an event whose client left. Without a socket, the upload
 * request's own identity stands in for the socket's.
 */
export class UploadTabClient implements EventClient {
  constructor(
    private readonly identity: UploadClientIdentity,
    private readonly current: (token: string) => EventClient | undefined,
  ) {}

  get token(): string {
    return this.identity.token;
  }

  get sid(): string {
    return this.current(this.identity.token)?.sid ?? this.identity.sid;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.current(this.identity.token)?.headers ?? this.identity.headers;
  }

  get remoteAddress(): string {
    return this.current(this.identity.token)?.remoteAddress ?? this.identity.remoteAddress;
  }

  /** True while the tab has a socket (here, or on several workers its room) to send to. */
  get connected(): boolean {
    return this.current(this.identity.token) !== undefined;
  }

  emitUpdate(update: StateUpdate): void {
    this.current(this.identity.token)?.emitUpdate(update);
  }

  emitError(error: BridgeErrorPayload): void {
    this.current(this.identity.token)?.emitError(error);
  }
}

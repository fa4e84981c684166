import type { Socket } from 'socket.io';
import { BRIDGE_ERROR_EVENT, type BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import type { SharedUpdate } from '../protocol/shared-update.js';
import type { EventClient } from '../common/event-client.js';
import type { InboundFrameGuardHooks } from '../security/inbound-frame-guard.js';
import type { TrackedSocket } from './session-tracker.service.js';
import { writeSharedUpdate } from './shared-update.writer.js';

/** What a {@link SocketConnection} needs from the gateway that made it, shared by every connection. */
export interface SocketConnectionOwner {
  reportError(client: EventClient, error: BridgeError): void;
}

/**
 * Everything the gateway keeps for one connected socket, in one object: the client the pipeline sees, the
 * hooks of its frame guard and what the session tracker holds. Its methods live on the prototype, so an idle
 * connection holds no closures of its own for them (10,000 idle tabs on a worker are 10,000 of these).
 */
export class SocketConnection implements EventClient, InboundFrameGuardHooks, TrackedSocket {
  /** The token the socket presented; admission may replace it with a fresh one (`new_token`). */
  token: string;
  readonly sid: string;
  /** Set once admission has passed: events then go straight to the pipeline. */
  isAdmitted = false;
  /** Stops the socket's output watcher; set by the gateway. */
  stopWatchingOutput?: () => void;

  constructor(
    readonly socket: Socket,
    private readonly owner: SocketConnectionOwner,
    readonly headers: Readonly<Record<string, string>>,
  ) {
    this.token = socket.handshake.query.token as string;
    this.sid = socket.id;
  }

  get remoteAddress(): string {
    return this.socket.handshake.address;
  }

  /** The session tracker's view of this socket: the client itself. */
  get client(): EventClient {
    return this;
  }

  emitUpdate(update: StateUpdate): void {
    this.socket.emit('event', update);
  }

  /** A message other sockets get too: encoded once for all of them (see {@link writeSharedUpdate}). */
  emitSharedUpdate(shared: SharedUpdate): void {
    writeSharedUpdate(this.socket, shared);
  }

  emitError(error: BridgeErrorPayload): void {
    this.socket.emit(BRIDGE_ERROR_EVENT, error);
  }

  /** A frame the guard refused: told to the client as a structured error. */
  report(error: BridgeError): void {
    this.owner.reportError(this, error);
  }

  disconnect(): void {
    this.socket.disconnect(true);
  }
}

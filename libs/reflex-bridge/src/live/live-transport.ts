import { Logger } from '@nestjs/common';
import type { ModelChange } from './model-change.js';

/**
 * A change of a started transport's connection: `down` when it lost it (changes published meanwhile may never
 * reach this worker: pub/sub delivers at most once), `up` when it is back (both directions work again).
 */
export type LiveTransportStatus = 'down' | 'up';

/**
 * How changes travel between workers. An abstract class so it doubles as the DI token: provide an instance
 * (`{ provide: LiveTransport, useValue: new RedisTransport({ url }) }`) and {@link LiveBroadcaster} uses it.
 *
 * The contract every implementation keeps (checked by `describeLiveTransportContract` from
 * `@reflex-bridge/nest/testing`):
 * - After `start(onChange)` resolves, every change published by any started transport on the same medium
 *   (this one included) is passed to `onChange` exactly once, and the changes of one publisher arrive in the
 *   order they were published. Changes published while this transport was disconnected may be lost:
 *   pub/sub engines deliver at most once; see the implementation's notes.
 * - `publish` resolves once the engine accepted the change, and rejects with a {@link LiveTransportError}
 *   (never hangs) when it cannot. A change that already carries an `origin` keeps it (the broadcaster stamps
 *   its own so it can recognise its echo); otherwise the transport stamps one.
 * - `close` is idempotent; afterwards `onChange` is not called again and `publish` rejects with `closed`.
 * - An exception thrown by `onChange` is logged and does not stop delivery of later changes.
 * - A transport over a network calls {@link connectionChanged} whenever one of its connections is lost or comes
 *   back after `start`, so that {@link onConnectionChange} listeners (`LiveBroadcaster.transportStatus$`) hear of it.
 * @publicApi
 */
export abstract class LiveTransport {
  private readonly connectionListeners = new Set<(status: LiveTransportStatus) => void>();
  /** What listeners were last told; a started transport counts as connected. */
  private lastStatus: LiveTransportStatus = 'up';

  /** Connects and starts delivering every change on the medium to `onChange`. Call once. */
  abstract start(onChange: (change: ModelChange) => void): Promise<void>;

  /** Sends `change` to every started transport on the medium, this one included. */
  abstract publish(change: ModelChange): Promise<void>;

  /** Stops delivering and releases connections. Safe to call more than once. */
  abstract close(): Promise<void>;

  /**
   * Whether the transport is started and connected now: changes published now reach the other workers, and
   * theirs reach this one. Health checks read it (`LiveTransportHealthIndicator`). The default, for transports
   * with nothing to lose (in process), is `true`; transports over a network override it.
   */
  isConnected(): boolean {
    return true;
  }

  /**
   * Optional: one cheap round trip to the server on the transport's own connection (`SELECT 1`, `PING`). Resolves
   * when the server answered, rejects when the connection failed or the transport is not started. It may wait as
   * long as the server takes (a frozen server accepts the request and never answers): callers bound their wait, and
   * `LiveTransportHealthIndicator` keeps at most one unanswered. {@link isConnected} only reads the connection's
   * state, which stays "connected" while a server is frozen (stopped, swapping, its host suspended); health checks
   * use this, when the transport has it, to tell. Transports without it are checked by {@link isConnected} alone.
   */
  ping?(): Promise<void>;

  /**
   * Calls `listener` with `down` when the started transport loses its connection, and with `up` when it is back
   * ({@link isConnected} true again), once per change. Nothing is reported after `close`.
   * @returns a function that removes the listener.
   */
  onConnectionChange(listener: (status: LiveTransportStatus) => void): () => void {
    this.connectionListeners.add(listener);
    return () => void this.connectionListeners.delete(listener);
  }

  /**
   * For implementations: call after one of the transport's connections was lost or came back. Listeners are told
   * when {@link isConnected} now differs from what they were last told (a transport with two connections reports
   * `up` only once both are back). A listener that throws is logged; the others are still told.
   */
  protected connectionChanged(): void {
    const status: LiveTransportStatus = this.isConnected() ? 'up' : 'down';
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    for (const listener of [...this.connectionListeners]) {
      try {
        listener(status);
      } catch (error) {
        new Logger('ReflexBridge').error(`A live transport connection listener failed: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
  }
}

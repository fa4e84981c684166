import type { ModelChange } from './model-change.js';

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
 * @publicApi
 */
export abstract class LiveTransport {
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
}

import type { StateUpdate } from './state-update.js';

/**
 * One outbound `event` message that several clients receive exactly as it is (the same delta to every
 * subscriber of a live list whose list is the same), so that it is encoded once for all of them, as a Socket.IO
 * room broadcast encodes once. The update must not change once shared.
 *
 * `encoded` is a slot for whoever writes it to sockets (the gateway keeps the encoded packets there); other
 * readers leave it alone.
 */
export class SharedUpdate {
  /** The transport's encoded form of {@link update}, filled by the first write and reused by the others. */
  encoded: unknown = undefined;

  constructor(readonly update: StateUpdate) {}
}

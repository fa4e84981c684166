/**
 * One outbound Socket.IO message that several sends repeat exactly as it is, so that it is encoded once for all of
 * them, as a Socket.IO room broadcast encodes once: the same live-list delta to every subscriber whose list is the
 * same, or the same `busy` refusal to each frame of a flood. Neither `name` nor `data` may change once shared.
 *
 * `encoded` is a slot for whoever writes it to sockets (the gateway keeps the encoded packets there); other
 * readers leave it alone.
 */
export class SharedMessage {
  /** The transport's encoded form of the message, filled by the first write and reused by the others. */
  encoded: unknown = undefined;

  constructor(
    /** The Socket.IO event name (`event`, `bridge_error`). */
    readonly name: string,
    /** Its one argument. */
    readonly data: unknown,
  ) {}
}

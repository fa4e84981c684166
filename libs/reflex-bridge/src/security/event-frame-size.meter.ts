/**
 * The size of each inbound `event` frame as it arrived, handed to the event it carries, so the per-token
 * queue can bound the bytes it holds without serialising anything again.
 *
 * Why a list: Engine.IO reports every frame (`socket.conn` `packet`) while a socket read is decoded, but
 * Socket.IO delivers the decoded events only after the whole read (one `process.nextTick` each), in the same
 * order. The frame sizes wait here, first in first out, until their events come.
 *
 * Only frames in the exact shape Socket.IO clients send are recorded: Engine.IO message data (the frame after
 * its `4`) reading `2<namespace>,["event",`, a Socket.IO EVENT packet named `event`. A frame
 * written differently by hand (an escaped name, an ack id) still reaches the `event` listener: it takes the
 * next size in the list or, when the list is empty, `unknownSize` (the largest frame allowed). Such a client
 * can only be charged more than it sent, never less: every event takes one size, and there are at least as
 * many events as recorded sizes.
 */
export class EventFrameSizeMeter {
  private readonly sizes: number[] = [];
  private readonly prefix: string;

  constructor(
    namespace: string,
    private readonly unknownSize: number,
  ) {
    this.prefix = `2${namespace},["event",`;
  }

  /** Records the size of an Engine.IO `message` packet's data when it carries an `event`. */
  record(data: unknown): void {
    if (typeof data === 'string' && data.startsWith(this.prefix)) this.sizes.push(data.length);
  }

  /** The size of the event being delivered now (call once per `event`, in order). */
  next(): number {
    return this.sizes.length > 0 ? this.sizes.shift()! : this.unknownSize;
  }

  /** Sizes recorded whose events have not been delivered yet (for tests). */
  get pending(): number {
    return this.sizes.length;
  }
}

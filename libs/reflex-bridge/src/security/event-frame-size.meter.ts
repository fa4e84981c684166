/** The frame prefix of each namespace, made once: every connection shares the string. */
const prefixes = new Map<string, string>();

function prefixOf(namespace: string): string {
  let prefix = prefixes.get(namespace);
  if (prefix === undefined) prefixes.set(namespace, (prefix = `2${namespace},["event",`));
  return prefix;
}

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
  /**
   * The oldest size waiting for its event (-1: none), and the ones after it. Usually one frame waits at a
   * time: an idle connection then holds no array (an array that ever held a size keeps a backing store of
   * its own, about 150 bytes, for the life of the connection).
   */
  private head = -1;
  // Set here, not first when needed: a field added later moves the object's fields out of line (40 bytes more).
  private rest: number[] | undefined = undefined;
  private readonly prefix: string;

  constructor(
    namespace: string,
    private readonly unknownSize: number,
  ) {
    this.prefix = prefixOf(namespace);
  }

  /** Records the size of an Engine.IO `message` packet's data when it carries an `event`. */
  record(data: unknown): void {
    if (typeof data !== 'string' || !data.startsWith(this.prefix)) return;
    if (this.head < 0) this.head = data.length;
    else (this.rest ??= []).push(data.length);
  }

  /** The size of the event being delivered now (call once per `event`, in order). */
  next(): number {
    const size = this.head;
    if (size < 0) return this.unknownSize;
    const rest = this.rest;
    if (rest === undefined) {
      this.head = -1;
    } else {
      this.head = rest.shift()!;
      if (rest.length === 0) this.rest = undefined;
    }
    return size;
  }

  /** Sizes recorded whose events have not been delivered yet (for tests). */
  get pending(): number {
    return (this.head < 0 ? 0 : 1) + (this.rest?.length ?? 0);
  }
}

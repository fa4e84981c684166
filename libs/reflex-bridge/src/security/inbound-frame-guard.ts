import { BridgeError } from '../protocol/bridge-error.js';

/** What the guard does when a frame breaks the limit. */
export interface InboundFrameGuardHooks {
  /** Tells the client (a `payload_too_large` error). */
  report(error: BridgeError): void;
  /** Closes the connection: the only way to make Socket.IO drop binary attachments it is still collecting. */
  disconnect(): void;
}

/** Socket.IO packet types (the first character of a text frame) that announce binary attachments. */
const BINARY_EVENT = '5';
const BINARY_ACK = '6';

/**
 * Enforces `maxMessageBytes` on the raw Engine.IO frames of one connection, before Socket.IO decodes them (the
 * gateway hands it every `message` packet):
 *
 * - a text frame over the limit is answered with `payload_too_large`, and the event Socket.IO decodes from it is
 *   dropped ({@link takeDropped});
 * - a Socket.IO packet with binary attachments counts its text frame and every attachment frame together, as one
 *   message: past the limit the connection is closed, since Socket.IO keeps collecting the attachments it was
 *   promised (an attacker can promise any number) and only a close frees them. Within the limit the event still
 *   reaches the pipeline, which refuses binary values (`invalid_event`).
 *
 * The check costs a type test and a length comparison per frame; `Buffer.byteLength` runs only for text frames
 * long enough to possibly be over the limit.
 */
export class InboundFrameGuard {
  private dropped = 0;
  private binaryBytes = 0;
  private attachmentsLeft = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly hooks: InboundFrameGuardHooks,
  ) {}

  /**
   * `true` (once per oversized frame) when the next decoded event comes from a frame that was over the limit
   * and must be dropped. Socket.IO decodes frames in order, so the n-th dropped frame is the n-th such event.
   */
  takeDropped(): boolean {
    if (this.dropped === 0) return false;
    this.dropped--;
    return true;
  }

  /** Looks at the data of one inbound Engine.IO `message` packet, before Socket.IO decodes it. */
  inspect(data: unknown): void {
    if (typeof data === 'string') {
      this.inspectText(data);
      return;
    }
    // A binary frame: an attachment of the packet announced before it (anything else makes Socket.IO close).
    const size = (data as { byteLength?: number } | undefined)?.byteLength ?? 0;
    this.binaryBytes += size;
    if (this.attachmentsLeft > 0) this.attachmentsLeft--;
    if (this.binaryBytes > this.maxBytes) this.refuseBinary();
    else if (this.attachmentsLeft === 0) this.binaryBytes = 0;
  }

  private inspectText(data: string): void {
    const first = data.charAt(0);
    if (first === BINARY_EVENT || first === BINARY_ACK) {
      // `51-["event",{"_placeholder":true,"num":0}]`: the count of attachment frames to follow.
      this.attachmentsLeft = Number.parseInt(data.slice(1, 12), 10) || 0;
      this.binaryBytes = data.length;
      if (this.binaryBytes > this.maxBytes) this.refuseBinary();
      return;
    }
    if (data.length > this.maxBytes / 4 && Buffer.byteLength(data) > this.maxBytes) {
      this.dropped++;
      this.hooks.report(this.tooLarge('was dropped'));
    }
  }

  private refuseBinary(): void {
    this.attachmentsLeft = 0;
    this.binaryBytes = 0;
    this.hooks.report(this.tooLarge('and its attachments closed the connection'));
    this.hooks.disconnect();
  }

  private tooLarge(outcome: string): BridgeError {
    return new BridgeError('payload_too_large', `The message exceeds the ${this.maxBytes}-byte limit ${outcome}.`);
  }
}

import { BridgeError } from '../protocol/bridge-error.js';

/** The limits every connection of one gateway applies: one object, shared by all of them. */
export interface ConnectionLimitSettings {
  /** What the data of an Engine.IO message carrying an `event` of the namespace starts with. */
  readonly eventPrefix: string;
  /** `maxMessageBytes`: the largest inbound message. */
  readonly maxMessageBytes: number;
  /** `maxOutboundBytes`: the most output that may wait for a client that does not read. */
  readonly maxOutboundBytes: number;
}

/** The settings of a gateway on `namespace`. */
export function connectionLimitSettings(namespace: string, maxMessageBytes: number, maxOutboundBytes: number): ConnectionLimitSettings {
  // A Socket.IO EVENT packet named `event` in the namespace, as Socket.IO clients write it.
  return { eventPrefix: `2${namespace},["event",`, maxMessageBytes, maxOutboundBytes };
}

/** Socket.IO packet types (the character code of a text frame's first character) that announce binary attachments. */
const BINARY_EVENT = 0x35; // '5'
const BINARY_ACK = 0x36; // '6'

/**
 * The per-connection limits of the `/_event` gateway, kept in the connection object itself (it extends this
 * class): an idle worker holds one connection object per tab, not one object per limit.
 *
 * **Inbound frames** ({@link inspectFrame}, {@link takeDropped}): `maxMessageBytes` is enforced on the raw Engine.IO
 * frames, before Socket.IO decodes them:
 * - a text frame over the limit is answered with `payload_too_large`, and the event Socket.IO decodes from it is
 *   dropped;
 * - a Socket.IO packet with binary attachments counts its text frame and every attachment frame together, as one
 *   message: past the limit the connection is closed, since Socket.IO keeps collecting the attachments it was
 *   promised (an attacker can promise any number) and only a close frees them. Within the limit the event still
 *   reaches the pipeline, which refuses binary values (`invalid_event`).
 * The check costs a type test and a length comparison per frame; `Buffer.byteLength` runs only for text frames
 * long enough to possibly be over the limit.
 *
 * **Frame sizes** ({@link takeFrameSize}): each `event` is handed the size of the frame it came in, so the per-token
 * queue can bound the bytes it holds without serialising anything again. Engine.IO reports every frame while a
 * socket read is decoded, but Socket.IO delivers the decoded events only after the whole read (one
 * `process.nextTick` each), in the same order: the sizes wait, first in first out, until their events come. Only
 * frames in the exact shape Socket.IO clients send are recorded (`2<namespace>,["event",`); a frame written
 * differently by hand still reaches the `event` listener and takes the next size or, when none waits, the largest
 * allowed: such a client can only be charged more than it sent, never less.
 *
 * **Output** ({@link countOutput}): what waits for the client is what waits in Engine.IO's queue (every packet adds
 * its size when it is queued; the queue is handed to the transport whole, so an empty queue counts from zero again)
 * plus what the WebSocket was given and has not handed to the kernel yet (its `bufferedAmount`). Past
 * `maxOutboundBytes` of unsent output {@link outputExceeded} runs once (the gateway closes the connection): a client
 * that stops reading while it keeps asking would otherwise make the server buffer without end. Reading both when a
 * packet is queued needs no `drain` listener on every transport. Sizes are counted in string length (UTF-16 units)
 * for text frames and bytes for binary ones: cheap, and close enough for a bound of megabytes.
 */
export abstract class ConnectionLimits<Settings extends ConnectionLimitSettings = ConnectionLimitSettings> {
  private dropped = 0;
  private binaryBytes = 0;
  private attachmentsLeft = 0;
  /**
   * The oldest frame size waiting for its event (-1: none), and the ones after it. Usually one waits at a time: an
   * idle connection then holds no array (an array that ever held a size keeps a backing store for good).
   */
  private sizeHead = -1;
  private sizeRest: number[] | undefined = undefined;
  private pendingOutput = 0;
  private outputOverLimit = false;

  protected constructor(protected readonly settings: Settings) {}

  /** Tells the client that a frame broke the limit (a `payload_too_large` error). */
  abstract report(error: BridgeError): void;
  /** Closes the connection: the only way to make Socket.IO drop binary attachments it is still collecting. */
  abstract disconnect(): void;
  /** More than `maxOutboundBytes` waits for the client; called once. */
  abstract outputExceeded(pendingBytes: number): void;

  /** Looks at the data of one inbound Engine.IO `message` packet, before Socket.IO decodes it. */
  inspectFrame(data: unknown): void {
    if (typeof data === 'string') {
      this.inspectText(data);
      // `lastIndexOf(prefix, 0)` is `startsWith`, at a third of its cost on the sliced strings Engine.IO hands over
      // (a `charCodeAt` loop costs more still: each read unpacks the slice).
      if (data.lastIndexOf(this.settings.eventPrefix, 0) === 0) this.recordSize(data.length);
      return;
    }
    // A binary frame: an attachment of the packet announced before it (anything else makes Socket.IO close).
    const size = (data as { byteLength?: number } | undefined)?.byteLength ?? 0;
    this.binaryBytes += size;
    if (this.attachmentsLeft > 0) this.attachmentsLeft--;
    if (this.binaryBytes > this.settings.maxMessageBytes) this.refuseBinary();
    else if (this.attachmentsLeft === 0) this.binaryBytes = 0;
  }

  /**
   * `true` (once per oversized frame) when the next decoded event comes from a frame that was over the limit
   * and must be dropped. Socket.IO decodes frames in order, so the n-th dropped frame is the n-th such event.
   */
  takeDropped(): boolean {
    if (this.dropped === 0) return false;
    this.dropped--;
    return true;
  }

  /** The size of the frame of the event being delivered now (call once per `event`, in order). */
  takeFrameSize(): number {
    const size = this.sizeHead;
    if (size < 0) return this.settings.maxMessageBytes;
    const rest = this.sizeRest;
    if (rest === undefined) {
      this.sizeHead = -1;
    } else {
      this.sizeHead = rest.shift()!;
      if (rest.length === 0) this.sizeRest = undefined;
    }
    return size;
  }

  /** Frame sizes recorded whose events have not been delivered yet. */
  get pendingFrameSizes(): number {
    return (this.sizeHead < 0 ? 0 : 1) + (this.sizeRest?.length ?? 0);
  }

  /**
   * Counts one packet as Engine.IO queues it: `queuedPackets` is how many packets its queue holds before this one
   * (0: everything before was handed to the transport), `inFlightBytes` what the transport holds that the kernel
   * has not taken yet.
   */
  countOutput(data: unknown, queuedPackets: number, inFlightBytes: number): void {
    if (queuedPackets === 0) this.pendingOutput = 0;
    if (data !== undefined) this.pendingOutput += typeof data === 'string' ? data.length : ((data as { byteLength?: number }).byteLength ?? 0);
    const pending = this.pendingOutput + inFlightBytes;
    if (pending > this.settings.maxOutboundBytes && !this.outputOverLimit) {
      this.outputOverLimit = true;
      this.outputExceeded(pending);
    }
  }

  /** Bytes in Engine.IO's queue, as counted. */
  get pendingOutputBytes(): number {
    return this.pendingOutput;
  }

  private recordSize(size: number): void {
    if (this.sizeHead < 0) this.sizeHead = size;
    else (this.sizeRest ??= []).push(size);
  }

  private inspectText(data: string): void {
    const max = this.settings.maxMessageBytes;
    const first = data.charCodeAt(0);
    if (first === BINARY_EVENT || first === BINARY_ACK) {
      // `51-["event",{"_placeholder":true,"num":0}]`: the count of attachment frames to follow.
      this.attachmentsLeft = Number.parseInt(data.slice(1, 12), 10) || 0;
      this.binaryBytes = data.length;
      if (this.binaryBytes > max) this.refuseBinary();
      return;
    }
    if (data.length > max / 4 && Buffer.byteLength(data) > max) {
      this.dropped++;
      this.report(this.tooLarge('was dropped'));
    }
  }

  private refuseBinary(): void {
    this.attachmentsLeft = 0;
    this.binaryBytes = 0;
    this.report(this.tooLarge('and its attachments closed the connection'));
    this.disconnect();
  }

  private tooLarge(outcome: string): BridgeError {
    return new BridgeError('payload_too_large', `The message exceeds the ${this.settings.maxMessageBytes}-byte limit ${outcome}.`);
  }
}

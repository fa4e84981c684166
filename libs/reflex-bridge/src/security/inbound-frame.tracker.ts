/** The longest WebSocket frame header: 2 bytes, an 8-byte extended length, a 4-byte mask key. */
const MAX_HEADER_BYTES = 14;
/** The ping frame's opcode; a pong's is the next (higher ones are reserved, and `ws` closes a connection for them). */
const PING = 0x09;

/**
 * Follows the WebSocket frames of one connection's inbound byte stream (RFC 6455 framing only: lengths, FIN bits and
 * opcodes; no payload is read or copied) to tell whether a message is unfinished and how many of its bytes have
 * arrived: the bytes the `ws` library holds for it until the message is whole (a frame's payload until its last
 * byte, a fragmented message's frames until the final one). Control frames between fragments leave the message
 * unfinished.
 *
 * Why not ask `ws`: it exposes no such state, and its receiver's fields are private. The framing is fixed by the RFC.
 */
export class InboundFrameTracker {
  /**
   * The current frame header's bytes so far (at most {@link MAX_HEADER_BYTES}), when a header is split across chunks.
   * Made then: nearly every header arrives whole, and an idle connection of the worker's thousands holds none.
   */
  private header: Uint8Array | undefined;
  private headerBytes = 0;
  /** Payload bytes of the current frame still to come. */
  private payloadLeft = 0;
  /** The current frame: a final one (FIN) and its opcode, known once its header is whole. */
  private fin = true;
  private opcode = 0;
  /** A data frame without FIN arrived and its message's final frame has not. */
  private inFragmentedMessage = false;
  /** Bytes of the unfinished message so far, headers included; 0 when none is unfinished. */
  private held = 0;
  /** Set when a ping or pong frame's header is read; the tracker's user clears it. */
  pingOrPong = false;

  /** True while a message has begun and not ended: a frame header or payload is incomplete, or a fragmented message. */
  get unfinished(): boolean {
    return this.headerBytes > 0 || this.payloadLeft > 0 || this.inFragmentedMessage;
  }

  /** Bytes of the unfinished message that have arrived (0 when no message is unfinished). */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * Follows `chunk`, the next bytes of the stream. Returns true when at least one message ended in it (a message
   * unfinished now, then, began in this chunk).
   */
  consume(chunk: Uint8Array): boolean {
    const length = chunk.length;
    // Nearly every chunk of a client sending events is one whole final frame, between messages: it ends a message
    // (a data frame's, or a control frame's between messages) and leaves nothing held. Checked first, it costs about
    // 100 instructions per event where the walk below took 250.
    if (this.payloadLeft === 0 && this.headerBytes === 0 && !this.inFragmentedMessage && length >= 2 && (chunk[0]! & 0x80) !== 0) {
      const headerLength = headerLengthOf(chunk[1]!);
      if (length >= headerLength && headerLength + payloadLengthOf(chunk, 0, chunk[1]!) === length) {
        if ((chunk[0]! & 0x0f) >= PING) this.pingOrPong = true;
        return true;
      }
    }
    // Where the stream last stood between messages in this chunk: what follows it is the unfinished message's.
    let settledAt = this.unfinished ? -1 : 0;
    let ended = false;
    let i = 0;
    while (i < length) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, length - i);
        this.payloadLeft -= take;
        i += take;
        if (this.payloadLeft === 0 && this.frameEnded()) {
          settledAt = i;
          ended = true;
        }
        continue;
      }
      if (this.headerBytes === 0 && length - i >= 2 && length - i >= headerLengthOf(chunk[i + 1]!)) {
        // The whole header is in this chunk (nearly always): read in place, not copied.
        const second = chunk[i + 1]!;
        this.fin = (chunk[i]! & 0x80) !== 0;
        this.opcode = chunk[i]! & 0x0f;
        if (this.opcode >= PING) this.pingOrPong = true;
        this.payloadLeft = payloadLengthOf(chunk, i, second);
        i += headerLengthOf(second);
      } else {
        this.header ??= new Uint8Array(MAX_HEADER_BYTES);
        this.header[this.headerBytes++] = chunk[i++]!;
        if (this.headerBytes < 2 || this.headerBytes < headerLengthOf(this.header[1]!)) continue;
        this.payloadLeft = payloadLengthOf(this.header, 0, this.header[1]!);
        this.fin = (this.header[0]! & 0x80) !== 0;
        this.opcode = this.header[0]! & 0x0f;
        if (this.opcode >= PING) this.pingOrPong = true;
        this.headerBytes = 0;
      }
      if (this.payloadLeft === 0 && this.frameEnded()) {
        settledAt = i;
        ended = true;
      }
    }
    if (!this.unfinished) this.held = 0;
    else if (settledAt < 0) this.held += length;
    else this.held = length - settledAt;
    return ended;
  }

  /** A frame's payload has all arrived: true when no message is unfinished any more. */
  private frameEnded(): boolean {
    // Control frames (opcode 8 and up) may come between a fragmented message's frames and do not end it.
    if (this.opcode < 0x08) this.inFragmentedMessage = !this.fin;
    return !this.inFragmentedMessage;
  }
}

/** A frame header's whole length, from its second byte (the mask bit and the 7-bit length). */
function headerLengthOf(second: number): number {
  const length7 = second & 0x7f;
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + ((second & 0x80) !== 0 ? 4 : 0);
}

/** The payload length of the frame header at `at` in `bytes`, whose second byte is `second`. */
function payloadLengthOf(bytes: Uint8Array, at: number, second: number): number {
  const length7 = second & 0x7f;
  if (length7 === 126) return (bytes[at + 2]! << 8) | bytes[at + 3]!;
  // An 8-byte length: `ws` closes the connection past its maxPayload long before such a payload could arrive.
  if (length7 === 127) return uint32At(bytes, at + 2) * 2 ** 32 + uint32At(bytes, at + 6);
  return length7;
}

function uint32At(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 2 ** 24 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

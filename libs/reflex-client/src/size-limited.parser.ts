import { Decoder, Encoder } from 'socket.io-parser';

/** The Socket.IO `parser` option: the encoder and decoder classes a Manager creates one each of. */
export interface SocketIoParser {
  Encoder: typeof Encoder;
  Decoder: typeof Decoder;
}

function sizeOf(chunk: unknown): number {
  if (typeof chunk === 'string') return chunk.length;
  if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) return chunk.byteLength;
  if (typeof Blob === 'function' && chunk instanceof Blob) return chunk.size;
  return 0;
}

/**
 * Socket.IO's default parser, except that a message longer than `maxChars` is not parsed: `onRejected` is told
 * and the message dropped (a binary attachment that long also ends the connection, as the packet it belonged to
 * can no longer be put together). Parsing is what would freeze a tab on a frame of hundreds of megabytes.
 */
export function sizeLimitedParser(maxChars: number, onRejected: (size: number) => void): SocketIoParser {
  class SizeLimitedDecoder extends Decoder {
    override add(chunk: unknown): void {
      const size = sizeOf(chunk);
      if (size > maxChars) {
        onRejected(size);
        if (typeof chunk === 'string') return;
        throw new RangeError(`A binary attachment of ${size} bytes exceeds ${maxChars}.`);
      }
      super.add(chunk);
    }
  }
  return { Encoder, Decoder: SizeLimitedDecoder };
}

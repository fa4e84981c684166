import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InboundFrameTracker } from './inbound-frame.tracker.js';

/** One frame as a client writes it: FIN, opcode, payload length, masked or not. */
interface Frame {
  fin: boolean;
  opcode: number;
  length: number;
  masked: boolean;
}

function encode({ fin, opcode, length, masked }: Frame): Buffer {
  const extended = length > 0xffff ? 8 : length > 125 ? 2 : 0;
  const header = Buffer.alloc(2 + extended + (masked ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = (masked ? 0x80 : 0) | (extended === 8 ? 127 : extended === 2 ? 126 : length);
  if (extended === 2) header.writeUInt16BE(length, 2);
  if (extended === 8) {
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length % 2 ** 32, 6);
  }
  // Payload bytes that look like headers: the tracker must not read into them.
  return Buffer.concat([header, Buffer.alloc(length, 0x81)]);
}

/** Messages as frames: a data frame, or a fragmented message whose fragments may have control frames between them. */
const message = fc.oneof(
  fc.record({ opcode: fc.constantFrom(1, 2), length: fc.oneof(fc.nat(130), fc.integer({ min: 65_530, max: 70_000 })), masked: fc.boolean() }).map((frame) => [{ ...frame, fin: true }]),
  fc
    .array(fc.record({ length: fc.nat(300), masked: fc.boolean(), control: fc.option(fc.record({ opcode: fc.constantFrom(8, 9, 10), length: fc.nat(125) }), { nil: undefined }) }), { minLength: 2, maxLength: 5 })
    .map((fragments) =>
      fragments.flatMap(({ length, masked, control }, i): Frame[] => {
        const data: Frame = { fin: i === fragments.length - 1, opcode: i === 0 ? 1 : 0, length, masked };
        return control && i > 0 ? [{ fin: true, opcode: control.opcode, length: control.length, masked }, data] : [data];
      }),
    ),
  // A control frame between messages.
  fc.record({ opcode: fc.constantFrom(9, 10), length: fc.nat(125), masked: fc.boolean() }).map((frame) => [{ ...frame, fin: true }]),
);

/** The bytes of `messages`, the offsets between messages, the offset after each frame and after each ping or pong header. */
function streamOf(messages: Frame[][]): { stream: Buffer; settled: number[]; frameEnds: number[]; pingOrPongHeaderEnds: number[] } {
  const parts: Buffer[] = [];
  const settled = [0];
  const frameEnds: number[] = [];
  const pingOrPongHeaderEnds: number[] = [];
  let offset = 0;
  for (const frames of messages) {
    for (const frame of frames) {
      const bytes = encode(frame);
      if (frame.opcode === 9 || frame.opcode === 10) pingOrPongHeaderEnds.push(offset + bytes.length - frame.length);
      parts.push(bytes);
      offset += bytes.length;
      frameEnds.push(offset);
    }
    settled.push(offset);
  }
  return { stream: Buffer.concat(parts), settled, frameEnds, pingOrPongHeaderEnds };
}

/**
 * Feeds `stream` cut at `ends` to a tracker, checking after each chunk what it says against the offsets between
 * messages, and that it saw a ping or pong exactly in the chunks where such a frame's header was completed.
 */
function expectFollowed(stream: Buffer, settled: number[], ends: number[], pingOrPongHeaderEnds: number[]): void {
  const tracker = new InboundFrameTracker();
  let at = 0;
  for (const end of ends) {
    const endedInChunk = settled.some((point) => point > at && point <= end);
    expect(tracker.consume(stream.subarray(at, end))).toBe(endedInChunk);
    expect(tracker.pingOrPong).toBe(pingOrPongHeaderEnds.some((point) => point > at && point <= end));
    tracker.pingOrPong = false;
    at = end;
    const lastSettled = Math.max(...settled.filter((point) => point <= at));
    expect(tracker.unfinished).toBe(lastSettled !== at);
    expect(tracker.heldBytes).toBe(at - lastSettled);
  }
}

describe('InboundFrameTracker', () => {
  it('tells, at the end of every chunk, whether a message is unfinished, how many of its bytes arrived, and whether a ping or pong came', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 60 }), (messages, cuts) => {
        const { stream, settled, pingOrPongHeaderEnds } = streamOf(messages);
        const ends: number[] = [];
        for (let at = 0, cut = 0; at < stream.length; ends.push(at)) at = Math.min(stream.length, at + cuts[cut++ % cuts.length]!);
        expectFollowed(stream, settled, ends, pingOrPongHeaderEnds);
      }),
    );
  });

  it('follows chunks that are whole frames, as a client sending events writes them', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), (messages, joins) => {
        const { stream, settled, frameEnds, pingOrPongHeaderEnds } = streamOf(messages);
        // Each chunk one frame, or now and then two frames together.
        const ends = frameEnds.filter((end, index) => end === stream.length || !joins[index % joins.length]);
        expectFollowed(stream, settled, ends, pingOrPongHeaderEnds);
      }),
    );
  });

  it('counts a header announcing a large frame and the bytes after it, one byte at a time', () => {
    const tracker = new InboundFrameTracker();
    const bytes = encode({ fin: true, opcode: 1, length: 2_000_000, masked: true }).subarray(0, 1000);
    for (const byte of bytes) tracker.consume(Buffer.from([byte]));
    expect(tracker.unfinished).toBe(true);
    expect(tracker.heldBytes).toBe(1000);
  });
});

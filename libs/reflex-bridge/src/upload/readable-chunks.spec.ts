import fc from 'fast-check';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { readableChunks } from './readable-chunks.js';

/** A stream its test pushes into by hand (nothing is read from a source). */
function manualStream(highWaterMark = 16): Readable {
  return new Readable({ highWaterMark, read() {} });
}

describe('readableChunks', () => {
  it('yields every chunk as it was pushed, never concatenated, however far behind the consumer is', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 20 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 20 }),
        async (chunks, delays) => {
          const stream = manualStream();
          // The producer pushes everything at once: Node's own iterator would hand the consumer one joined Buffer.
          for (const chunk of chunks) stream.push(Buffer.from(chunk));
          stream.push(null);
          const seen: Buffer[] = [];
          for await (const chunk of readableChunks(stream)) {
            seen.push(chunk);
            for (let turn = 0; turn < delays[seen.length % delays.length]!; turn++) await nextTurn();
          }
          expect(seen.map((chunk) => [...chunk])).toEqual(chunks.map((chunk) => [...chunk]));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('holds the stream back while a chunk waits for the consumer', async () => {
    const source = new PassThrough({ highWaterMark: 8 });
    const chunks = readableChunks(source);
    const first = chunks.next();
    source.write(Buffer.from('aaaa'));
    source.write(Buffer.from('bbbb'));
    expect((await first).value?.toString()).toBe('aaaa');
    // The consumer has not asked again: what the writer adds waits in the stream's buffer, and fills it.
    await nextTurn();
    const accepted = source.write(Buffer.from('cccccccccccc'));
    expect(accepted).toBe(false);
    source.end();
    const rest: string[] = [];
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) rest.push(next.value.toString());
    expect(rest.join('')).toBe('bbbbcccccccccccc');
  });

  it("throws the stream's error, and a premature close when it is destroyed before its end", async () => {
    const failing = manualStream();
    failing.push(Buffer.from('x'));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of readableChunks(failing)) {
          seen.push(chunk.toString());
          failing.destroy(new Error('disk gone'));
        }
      })(),
    ).rejects.toThrow('disk gone');
    expect(seen).toEqual(['x']);

    const cut = manualStream();
    const reading = (async () => {
      for await (const chunk of readableChunks(cut)) void chunk;
    })();
    await nextTurn();
    cut.destroy();
    await expect(reading).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('destroys the stream when the consumer stops early, and leaves no listener behind', async () => {
    const stream = manualStream();
    stream.push(Buffer.from('a'));
    stream.push(Buffer.from('b'));
    for await (const chunk of readableChunks(stream)) {
      expect(chunk.toString()).toBe('a');
      break;
    }
    expect(stream.destroyed).toBe(true);
    expect(stream.listenerCount('data')).toBe(0);
    expect(stream.listenerCount('end')).toBe(0);
  });
});

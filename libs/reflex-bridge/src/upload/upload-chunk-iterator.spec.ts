import { describe, expect, it } from '@jest/globals';
import { UploadChunkIterator } from './upload-chunk-iterator.js';
import type { UploadChunk } from './upload-chunk.js';
import { UploadAbortedError } from './upload.error.js';

function chunk(offset: number, text = `c${offset}`): UploadChunk {
  return { filename: 'a.txt', offset, contentType: 'text/plain', data: Buffer.from(text) };
}

/** Whether `promise` has settled once pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('UploadChunkIterator', () => {
  it('hands chunks over in order and ends after end()', async () => {
    const chunks = new UploadChunkIterator(2);
    const read: number[] = [];
    const consumer = (async () => {
      for await (const c of chunks) read.push(c.offset);
    })();
    for (let i = 0; i < 10; i++) await chunks.push(chunk(i));
    chunks.end();
    await consumer;
    expect(read).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('holds at most its capacity: push waits for room until the handler reads', async () => {
    const chunks = new UploadChunkIterator(3);
    await chunks.push(chunk(0));
    await chunks.push(chunk(1));
    await chunks.push(chunk(2));
    const fourth = chunks.push(chunk(3));
    expect(await settled(fourth)).toBe(false);
    expect(chunks.size).toBe(3);
    expect((await chunks.next()).value).toEqual(chunk(0));
    await fourth;
    expect(chunks.size).toBe(3);
    chunks.end();
    const rest: number[] = [];
    for await (const c of chunks) rest.push(c.offset);
    expect(rest).toEqual([1, 2, 3]);
  });

  it('fail() throws into the loop at once, drops queued chunks and rejects waiting pushes', async () => {
    const chunks = new UploadChunkIterator(1);
    await chunks.push(chunk(0));
    const waiting = chunks.push(chunk(1));
    const aborted = new UploadAbortedError();
    chunks.fail(aborted);
    await expect(waiting).rejects.toBe(aborted);
    await expect(chunks.next()).rejects.toBe(aborted);
    await expect(chunks.push(chunk(2))).rejects.toBe(aborted);
    expect(chunks.size).toBe(0);
  });

  it('wakes a handler waiting for a chunk when the upload fails', async () => {
    const chunks = new UploadChunkIterator();
    const loop = (async () => {
      for await (const _ of chunks) {
        /* reading */
      }
    })();
    expect(await settled(loop)).toBe(false);
    chunks.fail(new UploadAbortedError());
    await expect(loop).rejects.toBeInstanceOf(UploadAbortedError);
  });

  it('after the handler leaves its loop, pushes resolve at once and chunks are dropped', async () => {
    const chunks = new UploadChunkIterator(1);
    await chunks.push(chunk(0));
    const waiting = chunks.push(chunk(1));
    for await (const c of chunks) {
      expect(c.offset).toBe(0);
      break;
    }
    await waiting;
    await chunks.push(chunk(2));
    expect(chunks.size).toBe(0);
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
  });

  it('refuses pushes after end()', async () => {
    const chunks = new UploadChunkIterator();
    chunks.end();
    await expect(chunks.push(chunk(0))).rejects.toThrow('push after end()');
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
  });

  it('fail() after end() drops what the handler has not read yet: a cancelled upload stops even once its whole body arrived', async () => {
    const chunks = new UploadChunkIterator();
    await chunks.push(chunk(0));
    await chunks.push(chunk(1));
    chunks.end();
    expect(await chunks.next()).toEqual({ done: false, value: chunk(0) });
    const cancelled = new UploadAbortedError();
    chunks.fail(cancelled);
    await expect(chunks.next()).rejects.toBe(cancelled);
  });

  it('ignores fail() once the handler left its loop', async () => {
    const chunks = new UploadChunkIterator();
    chunks.end();
    await chunks.return();
    chunks.fail(new Error('late'));
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new UploadChunkIterator(0)).toThrow(RangeError);
    expect(() => new UploadChunkIterator(1.5)).toThrow(RangeError);
  });
});

import type { UploadChunk } from './upload-chunk.js';

/**
 * Default number of chunks an iterator holds. Reflex's holds 8; here 8 made a handler that writes each chunk to disk
 * cost 2.3-4.7 ms of CPU per MiB one upload at a time (4 of 7 runs above 2.9), against 2.2-3.4 with 4 (2 of 10) and
 * 2.3-2.8 with 2 (0 of 6; busboy alone 1.9-3.3): chunks waiting longer cost the process more than the deeper queue
 * saves, and the request is paused while the queue is full anyway (see docs/performance-investigations.md, "A shorter chunk queue").
 */
export const DEFAULT_CHUNK_QUEUE_LENGTH = 4;

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The chunks of a streaming upload, as its handler's `@EventUploadChunks()` parameter receives them:
 * `for await (const chunk of chunks) { … }`. Bounded: it holds at most `capacity` chunks, and the producer (the
 * multipart parser) awaits {@link push}, which resolves only when there is room, so while the handler is slower than
 * the client the request is paused and memory stays at `capacity` chunks.
 *
 * - {@link end}: no more chunks; the loop ends once the queued ones are read.
 * - {@link fail}: the upload failed (a limit, a bad form, the client gone: `UploadAbortedError`); queued chunks are
 *   dropped and the loop throws the error at once.
 * - A handler that leaves its loop early (`break`, `return`, a throw) calls {@link return}: chunks pushed after that are
 *   dropped, so the rest of the request is read and discarded instead of waiting forever.
 * @publicApi
 */
export class UploadChunkIterator implements AsyncIterableIterator<UploadChunk> {
  private readonly queue: UploadChunk[] = [];
  private readonly readers: Waiter<IteratorResult<UploadChunk>>[] = [];
  private readonly writers: { chunk: UploadChunk; waiter: Waiter<void> }[] = [];
  private ended = false;
  private returned = false;
  private error: { reason: Error } | undefined;

  /** @param capacity chunks held at most (`uploads.chunkQueueLength`). */
  constructor(readonly capacity: number = DEFAULT_CHUNK_QUEUE_LENGTH) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Chunks waiting to be read. */
  get size(): number {
    return this.queue.length;
  }

  /**
   * Adds a chunk; resolves once it is queued (at once while there is room, else when the handler has read one).
   * Rejects with the failure after {@link fail}, and with an error after {@link end}. After the handler left its
   * loop ({@link return}) the chunk is dropped and it resolves at once.
   */
  push(chunk: UploadChunk): Promise<void> {
    if (this.error) return Promise.reject(this.error.reason);
    if (this.ended) return Promise.reject(new Error('UploadChunkIterator: push after end()'));
    if (this.returned) return Promise.resolve();
    const reader = this.readers.shift();
    if (reader) {
      reader.resolve({ done: false, value: chunk });
      return Promise.resolve();
    }
    if (this.queue.length < this.capacity) {
      this.queue.push(chunk);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.writers.push({ chunk, waiter: { resolve, reject } }));
  }

  /** No more chunks: the handler's loop ends after the queued ones, unless it {@link fail}s first. Does nothing after {@link fail}. */
  end(): void {
    if (this.ended || this.error) return;
    this.ended = true;
    for (const reader of this.readers.splice(0)) reader.resolve(DONE);
  }

  /**
   * The upload failed: queued chunks are dropped, the handler's loop throws `error` (now, or at its next read), and
   * pending pushes reject with it. Only the first failure counts. After {@link end} too (a cancellation once the whole
   * body had arrived: the handler has not read it all yet, and must stop as it would have mid-body); not once the
   * handler left its loop ({@link return}).
   */
  fail(error: Error): void {
    if (this.error || this.returned) return;
    this.error = { reason: error };
    this.queue.length = 0;
    for (const reader of this.readers.splice(0)) reader.reject(error);
    for (const writer of this.writers.splice(0)) writer.waiter.reject(error);
  }

  next(): Promise<IteratorResult<UploadChunk>> {
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      // Room for one more: the first waiting push goes in.
      const writer = this.writers.shift();
      if (writer) {
        this.queue.push(writer.chunk);
        writer.waiter.resolve();
      }
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.error) return Promise.reject(this.error.reason);
    if (this.ended || this.returned) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  /** The handler is done reading (its `for await` ended early): drop what is queued and whatever comes later. */
  return(): Promise<IteratorResult<UploadChunk>> {
    this.returned = true;
    this.queue.length = 0;
    for (const writer of this.writers.splice(0)) writer.waiter.resolve();
    for (const reader of this.readers.splice(0)) reader.resolve(DONE);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

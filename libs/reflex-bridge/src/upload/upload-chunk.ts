/**
 * One piece of one file of a streaming upload, as a handler with an `@EventUploadChunks()` parameter receives it from
 * its {@link UploadChunkIterator}. Chunks of one file arrive in order, files one after another in the order sent; a
 * zero-length file still yields one chunk with empty `data` (as Reflex).
 * @publicApi
 */
export interface UploadChunk {
  /** The file's cleaned relative path as sent (`photos/cat.png`), see `cleanUploadFileName`. */
  filename: string;
  /** Where `data` starts within the file, in bytes. */
  offset: number;
  /** The content type the client declared for the file: untrusted. */
  contentType: string;
  /** The bytes. */
  data: Buffer;
}

import type { StateUpdate } from './state-update.types.js';

/**
 * The bytes of one file to upload.
 *
 * - `Blob` (a `File` too): read as a stream, never copied whole.
 * - `Uint8Array` (a Node `Buffer` too), another `ArrayBufferView` or `ArrayBuffer`: sent as is.
 * - `AsyncIterable` of byte chunks (a Node `Readable`, a web `ReadableStream` in Node): read one chunk at a time,
 *   waiting for the socket to drain before the next (Node only).
 */
export type UploadFileData = Blob | ArrayBuffer | ArrayBufferView | AsyncIterable<Uint8Array | string>;

/** A file described by hand, e.g. `{ name: 'rows.csv', data: createReadStream('rows.csv') }` in Node. */
export interface UploadFileDescriptor {
  /** The file name, or its relative path (`photos/cat.png`). The server cleans it. */
  name: string;
  /** The content. */
  data: UploadFileData;
  /**
   * Its length in bytes. Optional: without it (for an `AsyncIterable`) the request is sent with chunked transfer
   * encoding, and progress has no `total` until the end. When given, a source that yields another number of
   * bytes fails the upload (`source_error`).
   */
  size?: number;
  /** The declared content type. @default the Blob's `type`, else `application/octet-stream` */
  contentType?: string;
}

/**
 * One file to upload: a `Blob`/`File` (its name is `file.path` when set, as drop zones set it, else a non-empty
 * `webkitRelativePath`, else `file.name`), or an {@link UploadFileDescriptor}.
 */
export type UploadFileInput = Blob | UploadFileDescriptor;

/** How far the request body is. Reflex's `on_upload_progress` shape. */
export interface UploadProgress {
  /** Bytes of the request body sent so far (multipart framing included). */
  loaded: number;
  /** Size of the whole request body, when known. */
  total: number | undefined;
  /** `loaded / total` between 0 and 1, when `total` is known. The last report is always `1`. */
  progress: number | undefined;
}

/** Options of one `ReflexClient.upload()` call. */
export interface UploadRequestOptions {
  /**
   * Extra handler arguments, keyed by parameter name (the handler's other `@Payload()` parameters), sent as the
   * `__reflex_event_args` JSON field before the files.
   */
  extraArgs?: Record<string, unknown>;
  /**
   * Called as the request body goes out, with bytes written so far. The last call reports `progress: 1` once the
   * whole body was sent. A callback that throws does not stop the upload (the error is re-thrown from a microtask).
   */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the upload: the request is dropped and the promise rejects with an `aborted` `UploadRequestError`. */
  signal?: AbortSignal;
  /**
   * Names the upload: a second upload with the same id while the first is in flight is refused
   * (`upload_in_progress`), and `client.cancelUpload(id)` aborts it. An aborted upload (`cancelUpload()` or its
   * `signal`) frees the id at once, for a retry. Without an id the upload is not tracked.
   */
  uploadId?: string;
}

/** What the server answered to a successful upload. */
export interface UploadResult {
  /** `200` (buffered mode) or `202` (streaming mode). */
  status: number;
  /**
   * `buffered`: the handler received the whole files; its deltas came back in the response and were applied to
   * the client's state as they arrived. `streaming`: the handler consumed chunks; its deltas came over the socket.
   */
  mode: 'buffered' | 'streaming';
  /**
   * The `StateUpdate`s of the response, in order, each already applied like a socket `event` message: the last
   * `maxUploadUpdates` (client option, default 1000) of them.
   */
  updates: StateUpdate[];
  /** How many earlier updates were applied but left out of {@link updates} (past `maxUploadUpdates`); usually 0. */
  droppedUpdates: number;
}

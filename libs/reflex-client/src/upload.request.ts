import type { StateUpdate } from './state-update.types.js';
import type { UploadProgressReporter } from './upload-progress.reporter.js';
import type { UploadFileData, UploadFileInput } from './upload.types.js';

/** Form field of the extra handler arguments (Reflex's `UPLOAD_EVENT_ARGS_FIELD`); it must precede the files. */
export const UPLOAD_EVENT_ARGS_FIELD = '__reflex_event_args';

/** Form field name of every file part. */
export const UPLOAD_FILES_FIELD = 'files';

/** Request header naming the handler an upload is for (its full name, as an `event` frame names it). */
export const EVENT_HANDLER_HEADER = 'Reflex-Event-Handler';

/** One file, checked and with its name, type and size settled. */
export interface PreparedUploadFile {
  name: string;
  contentType: string;
  data: UploadFileData;
  /** Bytes, when known before reading. */
  size: number | undefined;
}

/** What a transport (browser or Node) needs to send one upload. */
export interface UploadRequest {
  url: string;
  /** Token and handler headers, plus (Node) the headers the socket sends. */
  headers: Record<string, string>;
  /** `undefined` when there are none: then the field is left out, as Reflex's client does. */
  extraArgs: Record<string, unknown> | undefined;
  files: PreparedUploadFile[];
  signal: AbortSignal;
  progress: UploadProgressReporter;
  /** Most updates the result keeps (the last ones); see `maxUploadUpdates`. */
  maxUpdates: number;
  /** Longest answer read, in characters (bytes, in Node); see `maxUploadAnswerChars`. */
  maxAnswerChars: number;
  /** Applies one response line, like a socket `event` message. */
  onUpdate(update: StateUpdate): boolean | void;
}

/** True when the text has a control character (it would break the part's header lines). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function isBlob(value: unknown): value is Blob {
  return typeof Blob === 'function' && value instanceof Blob;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/** The name a browser `File` goes by: a drop zone's `path`, a folder pick's `webkitRelativePath`, or its name. */
function blobName(blob: Blob): string {
  const file = blob as Blob & { name?: unknown; path?: unknown; webkitRelativePath?: unknown };
  if (typeof file.path === 'string' && file.path.length > 0) return file.path;
  if (typeof file.webkitRelativePath === 'string' && file.webkitRelativePath.length > 0) return file.webkitRelativePath;
  return typeof file.name === 'string' && file.name.length > 0 ? file.name : 'blob';
}

function byteSize(data: UploadFileData): number | undefined {
  if (isBlob(data)) return data.size;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return undefined;
}

/**
 * Checks the files of an upload and settles each one's name, content type and size.
 * @throws TypeError for anything that is not a list of Blobs and `{ name, data }` descriptors, an empty name,
 * a content type with control characters (it becomes a header line), or a `size` that is not a byte count or
 * disagrees with the data's own length.
 */
export function prepareUploadFiles(files: readonly UploadFileInput[]): PreparedUploadFile[] {
  if (!Array.isArray(files)) throw new TypeError('upload(): "files" must be an array of Blobs/Files or { name, data } objects.');
  return files.map((file: unknown, index) => {
    if (isBlob(file)) return { name: blobName(file), contentType: file.type || 'application/octet-stream', data: file, size: file.size };
    if (typeof file !== 'object' || file === null) throw new TypeError(`upload(): files[${index}] is not a Blob or a { name, data } object.`);
    const { name, data, size, contentType } = file as Record<string, unknown>;
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`upload(): files[${index}].name must be a non-empty string.`);
    if (!isBlob(data) && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data) && !isAsyncIterable(data)) {
      throw new TypeError(`upload(): files[${index}].data must be a Blob, bytes or an async iterable of chunks (a Readable).`);
    }
    if (contentType !== undefined && (typeof contentType !== 'string' || hasControl(contentType))) {
      throw new TypeError(`upload(): files[${index}].contentType must be a string without control characters.`);
    }
    const own = byteSize(data);
    if (size !== undefined && (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || (own !== undefined && own !== size))) {
      throw new TypeError(`upload(): files[${index}].size must be the data's length in bytes.`);
    }
    const type = (contentType as string | undefined) || (isBlob(data) && data.type) || 'application/octet-stream';
    return { name, contentType: type, data, size: own ?? (size as number | undefined) };
  });
}

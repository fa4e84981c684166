import { UPLOAD_EVENT_ARGS_FIELD, UPLOAD_FILES_FIELD, type PreparedUploadFile } from './upload.request.js';

/** A `multipart/form-data` body as a list of framing bytes and files, to be streamed in order. */
export interface MultipartForm {
  /** The `Content-Type` header value, boundary included. */
  contentType: string;
  /** Framing and small fields as bytes; files as themselves, read when their turn comes. */
  parts: Array<Uint8Array | PreparedUploadFile>;
  /** Body length in bytes, when every file's size is known (then `Content-Length` is sent). */
  length: number | undefined;
}

// Made on first use: importing this file must not need TextEncoder (test environments such as jsdom lack it).
let encoder: TextEncoder | undefined;

/** Quotes a file name for `Content-Disposition` the way browsers do (HTML's form encoding): `"`, CR, LF escaped. */
export function quoteFormFileName(name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function boundary(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `----ReflexBridgeUpload${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Lays out the form of an upload: the `__reflex_event_args` JSON field first (the server reads it before the
 * files), then one `files` part per file, named by its relative path. Nothing of a file is read here.
 */
export function buildMultipartForm(extraArgs: Record<string, unknown> | undefined, files: readonly PreparedUploadFile[]): MultipartForm {
  const mark = boundary();
  const parts: Array<Uint8Array | PreparedUploadFile> = [];
  let length: number | undefined = 0;
  const bytes = (text: string): void => {
    const encoded = (encoder ??= new TextEncoder()).encode(text);
    parts.push(encoded);
    if (length !== undefined) length += encoded.byteLength;
  };
  if (extraArgs !== undefined) {
    bytes(`--${mark}\r\nContent-Disposition: form-data; name="${UPLOAD_EVENT_ARGS_FIELD}"\r\n\r\n${JSON.stringify(extraArgs)}\r\n`);
  }
  for (const file of files) {
    bytes(
      `--${mark}\r\nContent-Disposition: form-data; name="${UPLOAD_FILES_FIELD}"; filename="${quoteFormFileName(file.name)}"\r\n` +
        `Content-Type: ${file.contentType}\r\n\r\n`,
    );
    parts.push(file);
    length = file.size === undefined || length === undefined ? undefined : length + file.size;
    bytes('\r\n');
  }
  bytes(`--${mark}--\r\n`);
  return { contentType: `multipart/form-data; boundary=${mark}`, parts, length };
}

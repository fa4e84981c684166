import { abortedUploadError, UploadRequestError } from './upload-request.error.js';
import { UploadResponseReader } from './upload-response.reader.js';
import { UPLOAD_EVENT_ARGS_FIELD, UPLOAD_FILES_FIELD, type PreparedUploadFile, type UploadRequest } from './upload.request.js';
import type { UploadResult } from './upload.types.js';

/** A file as the browser's `FormData` takes it: a Blob, typed as declared (wrapping a Blob copies nothing). */
function blobOf(file: PreparedUploadFile): Blob {
  const data = file.data;
  if (data instanceof Blob) return data.type === file.contentType ? data : new Blob([data], { type: file.contentType });
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new Blob([data as BlobPart], { type: file.contentType });
  throw new TypeError(`upload(): "${file.name}" is a stream; in a browser pass a Blob/File or bytes.`);
}

/**
 * Sends an upload with `XMLHttpRequest` (the only browser API with upload progress), credentials included, as
 * Reflex's client does. The NDJSON answer is read as it grows (`onprogress`), and each new whole line is applied
 * at once.
 */
export function sendBrowserUpload(request: UploadRequest): Promise<UploadResult> {
  const form = new FormData();
  // The arguments field first: the server reads it before the first file part.
  if (request.extraArgs !== undefined) form.append(UPLOAD_EVENT_ARGS_FIELD, JSON.stringify(request.extraArgs));
  for (const file of request.files) form.append(UPLOAD_FILES_FIELD, blobOf(file), file.name);
  if (request.signal.aborted) return Promise.reject(abortedUploadError(request.signal.reason));

  return new Promise<UploadResult>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const reader = new UploadResponseReader(request.onUpdate, request.maxUpdates, request.maxAnswerChars);
    let begun = false;
    let seen = 0;
    let settled = false;

    const settle = (error: Error | undefined, result?: UploadResult): void => {
      if (settled) return;
      settled = true;
      request.signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(result!);
    };
    const onAbort = (): void => {
      settle(abortedUploadError(request.signal.reason));
      xhr.abort();
    };
    /** Hands the reader what the answer grew by since the last look. */
    const consume = (): void => {
      if (settled || xhr.readyState < XMLHttpRequest.HEADERS_RECEIVED) return;
      if (!begun) {
        begun = true;
        reader.begin(xhr.status, xhr.getResponseHeader('Retry-After'));
      }
      const text = xhr.responseText;
      if (text.length > seen) {
        const fresh = text.slice(seen);
        seen = text.length;
        reader.push(fresh);
      }
    };
    const guarded = (step: () => void): void => {
      try {
        step();
      } catch (error) {
        settle(error as Error);
        xhr.abort();
      }
    };

    xhr.open('POST', request.url);
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => request.progress.report(event.loaded, event.lengthComputable ? event.total : undefined);
    xhr.upload.onload = (event) => request.progress.complete(event.lengthComputable ? event.total : event.loaded);
    xhr.onprogress = () => guarded(consume);
    xhr.onload = () => guarded(() => {
      consume();
      settle(undefined, reader.end());
    });
    xhr.onerror = () => settle(new UploadRequestError(0, 'network_error', 'The upload request failed (network error or refused by CORS).'));
    xhr.onabort = () => settle(abortedUploadError(request.signal.reason));
    request.signal.addEventListener('abort', onAbort, { once: true });
    xhr.send(form);
  });
}

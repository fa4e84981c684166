import type * as NodeHttp from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { buildMultipartForm } from './multipart-form.builder.js';
import { abortedUploadError, UploadRequestError } from './upload-request.error.js';
import { UploadResponseReader } from './upload-response.reader.js';
import type { PreparedUploadFile, UploadRequest } from './upload.request.js';
import type { UploadResult } from './upload.types.js';

/** Largest slice of an in-memory file written at once, so progress moves in steps a user can see. */
const SLICE_BYTES = 64 * 1024;

/**
 * Loads a Node built-in only when a Node upload runs. The specifier is not a literal so that browser bundlers do
 * not try to resolve it; the browser build never reaches this code.
 */
async function nodeModule<T>(name: string): Promise<T> {
  const specifier = `node:${name}`;
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as T;
}

/** Thrown inside the body pump when the response already decided the outcome: stop writing, quietly. */
class StopWriting extends Error {}

/** The byte chunks of one file, without holding more than one chunk of a stream. */
async function* chunksOf(file: PreparedUploadFile): AsyncGenerator<Uint8Array> {
  const data = file.data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let at = 0; at < view.byteLength; at += SLICE_BYTES) yield view.subarray(at, at + SLICE_BYTES);
    return;
  }
  // A Blob is read through its stream; in Node 20 a web ReadableStream is async-iterable.
  const source = (data instanceof Blob ? data.stream() : data) as AsyncIterable<Uint8Array | string>;
  for await (const chunk of source) {
    if (typeof chunk === 'string') yield new TextEncoder().encode(chunk);
    else if (chunk instanceof Uint8Array) yield chunk;
    else throw new UploadRequestError(0, 'source_error', `The data of "${file.name}" yielded a chunk that is not bytes or text.`);
  }
}

/**
 * Sends an upload with `node:http`/`node:https`: the form is streamed (a file is never read whole into memory),
 * each write waits for the socket to drain, progress counts bytes the socket has taken, and the NDJSON answer is
 * applied line by line as it arrives.
 */
export async function sendNodeUpload(request: UploadRequest): Promise<UploadResult> {
  const url = new URL(request.url);
  const http = await nodeModule<typeof NodeHttp>(url.protocol === 'https:' ? 'https' : 'http');
  const form = buildMultipartForm(request.extraArgs, request.files);
  const headers: Record<string, string> = { ...request.headers, 'Content-Type': form.contentType };
  if (form.length !== undefined) headers['Content-Length'] = String(form.length);
  if (request.signal.aborted) throw abortedUploadError(request.signal.reason);

  return new Promise<UploadResult>((resolve, reject) => {
    const req: ClientRequest = http.request(url, { method: 'POST', headers });
    const reader = new UploadResponseReader(request.onUpdate, request.maxUpdates, request.maxAnswerChars);
    let settled = false;
    let bodyDone = false;
    /** The file whose data is being read. */
    let reading: PreparedUploadFile | undefined;
    /** Set when the rest of the body will not be sent: the answer already decided, or the upload ended. */
    let stopping = false;
    let rejectStop: ((error: Error) => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      rejectStop = reject;
    });
    stopped.catch(() => undefined);
    const stopBody = (): void => {
      stopping = true;
      rejectStop?.(new StopWriting());
    };

    const settle = (error: Error | undefined, result?: UploadResult): void => {
      if (settled) return;
      settled = true;
      request.signal.removeEventListener('abort', onAbort);
      stopBody();
      // A request cut off mid-body cannot be reused: drop its connection, and the stream it was reading (which may
      // be waiting for data that will never be sent).
      if (error || !bodyDone) {
        req.destroy();
        const source = reading?.data as { destroy?: unknown } | undefined;
        if (source && typeof source.destroy === 'function') (source as { destroy(): void }).destroy();
      }
      if (error) reject(error);
      else resolve(result!);
    };
    const onAbort = (): void => settle(abortedUploadError(request.signal.reason));
    request.signal.addEventListener('abort', onAbort, { once: true });

    req.on('response', (res: IncomingMessage) => {
      const retryAfter = res.headers['retry-after'];
      reader.begin(res.statusCode ?? 0, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      // A refusal (413, 404, …) can come before the body is sent: stop sending, read the reason.
      if (reader.failed) stopBody();
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          reader.push(chunk);
        } catch (error) {
          settle(error as Error);
        }
      });
      res.on('end', () => {
        try {
          settle(undefined, reader.end());
        } catch (error) {
          settle(error as Error);
        }
      });
      res.on('close', () => {
        if (settled) return;
        // The server closed before the end of its answer: a refusal still has its status; a success is incomplete.
        settle(reader.failed ? reader.error() : new UploadRequestError(0, 'network_error', 'The connection closed before the upload answer was complete.'));
      });
    });
    req.on('error', (error) => {
      // After a refusal arrived, a reset while sending the rest is expected: the answer decides.
      if (reader.failed) return;
      settle(new UploadRequestError(0, 'network_error', error.message, { cause: error }));
    });

    const write = (chunk: Uint8Array, counted: { bytes: number }): Promise<void> => {
      const ok = req.write(chunk, (error) => {
        if (error) return;
        counted.bytes += chunk.byteLength;
        request.progress.report(counted.bytes, form.length);
      });
      if (ok) return Promise.resolve();
      return Promise.race([new Promise<void>((resolveDrain) => req.once('drain', resolveDrain)), stopped]);
    };

    const pump = async (): Promise<void> => {
      const counted = { bytes: 0 };
      let total = 0;
      for (const part of form.parts) {
        if (stopping) throw new StopWriting();
        if (part instanceof Uint8Array) {
          total += part.byteLength;
          await write(part, counted);
          continue;
        }
        let fileBytes = 0;
        reading = part;
        try {
          for await (const chunk of chunksOf(part)) {
            if (stopping) throw new StopWriting();
            fileBytes += chunk.byteLength;
            if (part.size !== undefined && fileBytes > part.size) break;
            await write(chunk, counted);
          }
        } catch (error) {
          if (error instanceof StopWriting || error instanceof UploadRequestError) throw error;
          throw new UploadRequestError(0, 'source_error', `Reading "${part.name}" failed: ${String(error)}`, { cause: error });
        }
        if (part.size !== undefined && fileBytes !== part.size) {
          throw new UploadRequestError(0, 'source_error', `"${part.name}" was declared as ${part.size} bytes but yielded ${fileBytes > part.size ? 'more' : fileBytes}.`);
        }
        total += fileBytes;
        reading = undefined;
      }
      await new Promise<void>((resolveEnd) => req.end(resolveEnd));
      bodyDone = true;
      request.progress.complete(total);
    };

    pump().catch((error: unknown) => {
      if (error instanceof StopWriting) return;
      settle(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

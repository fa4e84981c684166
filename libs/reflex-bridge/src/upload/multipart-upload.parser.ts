import busboy, { type Busboy } from 'busboy';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseInboundEvent } from '../protocol/inbound-event.js';
import { frameShapeLimits, frameShapeRefusal, MAX_FRAME_DEPTH } from '../security/guarded-socket-io.parser.js';
import { readableChunks } from './readable-chunks.js';
import { UploadChunkIterator } from './upload-chunk-iterator.js';
import { cleanUploadFileName } from './upload-file-name.js';
import { TEMP_UPLOAD_DIRECTORY_PREFIX, tempUploadFileName } from './upload-leftover-names.js';
import { UploadFile } from './upload-file.js';
import type { TempDiskBudget } from './temp-disk-budget.js';
import type { ResolvedUploadOptions } from './upload.options.js';
import { UploadAbortedError, UploadError } from './upload.error.js';

/** The multipart field holding the handler's extra arguments as a JSON object (Reflex's name). */
export const UPLOAD_EVENT_ARGS_FIELD = '__reflex_event_args';
/** The multipart field name of file parts (Reflex's name). */
export const UPLOAD_FILES_FIELD = 'files';

/** Text fields besides `__reflex_event_args` are read (each bounded by `maxEventArgsBytes`) and ignored, up to this many. */
const MAX_TEXT_FIELDS = 32;
/** The longest part header busboy reads (its `MAX_HEADER_SIZE`, Node's default header size); longer is a 400. */
const MAX_PART_HEADER_BYTES = 16 * 1024;
/** Per part, beyond its headers and the boundary: the delimiter's `\r\n--`, line ends, a closing `--`. */
const PART_FRAMING_BYTES = 16;

/** A buffered upload, parsed: the extra arguments and the files on disk. */
export interface BufferedUpload {
  /** The `__reflex_event_args` object, `{}` when the field was not sent. */
  args: Record<string, unknown>;
  /** The files, in the order sent, each in a temp file. */
  files: UploadFile[];
  /** Removes the temp files (those not moved away with `UploadFile.moveTo`). Idempotent; call it when the handler ends. */
  dispose(): Promise<void>;
}

/** A streaming upload in progress. */
export interface StreamingUpload {
  /** The `__reflex_event_args` object: resolves at the first file part (or at the end of a form with no file). */
  args: Promise<Record<string, unknown>>;
  /** The files' chunks as they arrive; the request is paused while it is full. */
  chunks: UploadChunkIterator;
  /** Resolves when the whole request was read and every chunk pushed (`chunks` has ended); rejects on any failure. */
  done: Promise<void>;
  /** The read's failure, from the moment it happens (`done` rejects with it a little later, once the parts stopped). */
  readonly failure: Error | undefined;
}

/** One file part on its way: its cleaned name, declared type, and its bytes as they arrive (counted against the limits). */
interface IncomingFilePart {
  name: string;
  contentType: string;
  data: AsyncIterable<Buffer>;
}

/**
 * Charges a text field of `characters` characters, once busboy has read it and before anything looks inside it: returns
 * the refusal to fail the upload with, or undefined to go on (see `UploadArgsBudget`).
 */
export type TextFieldCharge = (characters: number) => Error | undefined;

/** Charges nothing: uploads without a budget of text fields. */
const FREE_TEXT_FIELDS: TextFieldCharge = () => undefined;

/** What each mode does with the parts the reader finds. */
interface PartSink {
  args(args: Record<string, unknown>): void;
  firstFile(): void;
  file(part: IncomingFilePart): Promise<void>;
  /** Called once, at the moment of the first failure (before anything is awaited). */
  failed(error: Error): void;
  /** Called once after a failure, when no part is being handled any more: remove what the mode stored. */
  cleanup(): Promise<void>;
}

function noop(): void {}

/**
 * A body busboy could not read, told as `upload_bad_form`. busboy gives the same "Malformed part header" for a part's
 * headers past its 16 KiB (Node's own header limit) as for broken ones: the answer names both.
 */
function malformedForm(error: unknown): UploadError {
  const reason = error instanceof Error ? error.message : String(error);
  const told = reason === 'Malformed part header' ? "a part's headers are malformed or longer than 16 KiB" : reason;
  return new UploadError(400, 'upload_bad_form', `Malformed multipart request: ${told}.`);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Parses `__reflex_event_args`: a JSON object (an empty field counts as `{}`) that an event's payload could be: no
 * `__proto__`, `constructor` or `prototype` key at any depth, within an event's nesting and number of values. Its
 * shape is read before it is parsed, as an event frame's is (see `guardedSocketIoParser`), with the limits of a
 * frame of `maxEventArgsBytes`: V8 spends far longer on some JSON of a megabyte than on other (empty objects, key
 * names no earlier object had), and every client waits behind the parse. How often one address may make the worker do
 * it is bounded before this is called (the reader's `chargeTextField`, `uploads.eventArgsPerAddress`).
 */
function parseEventArgs(value: string, maxEventArgsBytes: number): Record<string, unknown> {
  if (value === '') return {};
  const refusal = frameShapeRefusal(value, MAX_FRAME_DEPTH, frameShapeLimits(maxEventArgsBytes));
  if (refusal !== undefined) throw new UploadError(400, 'upload_bad_args', `${UPLOAD_EVENT_ARGS_FIELD} is refused unparsed: it has ${refusal}.`);
  let parsed: unknown;
  // No reviver: one made V8 parse a megabyte of `0,` in 550-600 ms instead of 30-55 ms, on the thread every client
  // shares. The forbidden keys are refused by the event payload's own walk below.
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UploadError(400, 'upload_bad_args', `${UPLOAD_EVENT_ARGS_FIELD} must be JSON.`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UploadError(400, 'upload_bad_args', `${UPLOAD_EVENT_ARGS_FIELD} must be a JSON object.`);
  }
  // The handler's arguments as an event's payload: within the same nesting and number of values, which protect the
  // validators and the delta code, and without the keys that could reach a prototype.
  try {
    parseInboundEvent({ name: UPLOAD_EVENT_ARGS_FIELD, payload: parsed });
  } catch (error) {
    throw new UploadError(400, 'upload_bad_args', `${UPLOAD_EVENT_ARGS_FIELD} is refused as an event payload would be: ${(error as Error).message}`);
  }
  return parsed as Record<string, unknown>;
}

/** The failure of an upload whose client stopped sending its body (`uploads.idleTimeoutMs`). */
export function isIdleTimeout(error: unknown): error is UploadError {
  return error instanceof UploadError && error.code === 'upload_idle_timeout';
}

/**
 * The longest body a form within the limits can have: its files (`maxTotalBytes`, or `maxFiles` × `maxFileBytes`
 * when that is less, as for an app that takes one image of a few MiB), the text fields at
 * `maxEventArgsBytes` each, and every part's headers and delimiter (the boundary is at most the `Content-Type`
 * header's length). Bytes outside file parts (a preamble before the first boundary, a part busboy skips for having
 * no `form-data` disposition, an epilogue after the last) count against no other limit: without this bound one
 * request could send gigabytes past `maxTotalBytes`, holding its upload slot (and a streaming handler's state
 * lock) for as long as it kept sending.
 */
export function maxUploadBodyBytes(limits: ResolvedUploadOptions, contentTypeLength: number): number {
  const parts = limits.maxFiles + MAX_TEXT_FIELDS + 1;
  const files = Math.min(limits.maxTotalBytes, limits.maxFiles * limits.maxFileBytes);
  return files + MAX_TEXT_FIELDS * limits.maxEventArgsBytes + parts * (MAX_PART_HEADER_BYTES + contentTypeLength + PART_FRAMING_BYTES);
}

/** A body longer than {@link maxUploadBodyBytes}: its rest is not read, its connection is closed. */
class UploadBodyTooLargeError extends UploadError {
  constructor(limit: number) {
    super(413, 'upload_too_large', `An upload's body may be at most ${limit} bytes, files, fields and multipart framing together.`, limit);
  }
}

/**
 * The refusal of a request whose `Content-Length` is past {@link maxUploadBodyBytes}, or undefined. The route asks
 * before it lets a client that waits for `100 Continue` send its body; the parser asks again for callers that did not.
 */
export function declaredBodyTooLarge(req: IncomingMessage, limits: ResolvedUploadOptions): UploadError | undefined {
  const max = maxUploadBodyBytes(limits, req.headers['content-type']?.length ?? 0);
  return Number(req.headers['content-length'] ?? 0) > max ? new UploadBodyTooLargeError(max) : undefined;
}

/**
 * A failure after which the rest of the body is not read and the connection is closed once answered: a client that
 * stopped sending (nothing to wait for) or one that sends more than any form within the limits (nothing worth
 * reading). Other refusals read and drop the rest, so a browser that sends its whole body first reads the answer.
 */
export function closesConnection(error: unknown): boolean {
  return isIdleTimeout(error) || error instanceof UploadBodyTooLargeError || isShutdownRefusal(error) || isRateLimited(error);
}

/** A text field refused for its address's budget (`uploads.eventArgsPerAddress`): the rest of its body is not read either. */
function isRateLimited(error: unknown): boolean {
  return error instanceof UploadError && error.code === 'rate_limited';
}

/**
 * The refusal of an upload whose body was still arriving when the app shut down: `503 uploads_busy`, to try again
 * (on another worker), as when the worker is full. Given as the upload signal's reason, it is the answer.
 */
export function shutdownRefusal(): UploadError {
  return new UploadError(503, 'uploads_busy', 'The server is shutting down; try the upload again.');
}

function isShutdownRefusal(error: unknown): boolean {
  return error instanceof UploadError && error.code === 'uploads_busy';
}

function isMultipart(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && type.split(';', 1)[0]!.trim().toLowerCase() === 'multipart/form-data';
}

/**
 * Reads one multipart request with busboy and hands its parts to a {@link PartSink}, one file at a time, enforcing the
 * limits. Memory stays bounded: busboy stops asking for request data while a file stream is not read, and the sinks
 * read a file only as fast as they can store or hand it on.
 *
 * On the first failure (a limit, a bad form, the signal, the client gone) the request is unpiped, the file streams
 * are destroyed with the error, the sink is told, and once the part being handled has stopped the sink cleans up;
 * then {@link run} rejects. The rest of a refused request's body is read and discarded (without keeping it), so the
 * client can read the answer; the route may close the connection instead.
 */
class MultipartReader {
  private failure: { error: Error } | undefined;
  private finished = false;
  private argsSeen = false;
  private fileSeen = false;
  private totalBytes = 0;
  /** Body bytes received, against {@link maxBodyBytes}. */
  private bodyBytes = 0;
  private readonly maxBodyBytes: number;
  private work: Promise<void> = Promise.resolve();
  private readonly liveStreams = new Set<Readable>();
  private bb: Busboy | undefined;
  /** Ends an upload whose client stopped sending (see {@link onIdle}); one per reader, cleared on every end. */
  private idleTimer: NodeJS.Timeout | undefined;
  private settle: { resolve(): void; reject(error: Error): void } = { resolve: noop, reject: noop };

  constructor(
    private readonly req: IncomingMessage,
    private readonly limits: ResolvedUploadOptions,
    private readonly signal: AbortSignal,
    private readonly sink: PartSink,
    private readonly chargeTextField: TextFieldCharge,
  ) {
    this.maxBodyBytes = maxUploadBodyBytes(limits, req.headers['content-type']?.length ?? 0);
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.start();
    });
  }

  /** The upload was cancelled: the client went away, or (a refusal as the reason) the app is shutting down. */
  private readonly onAbort = (): void => {
    const reason: unknown = this.signal.reason;
    this.fail(isShutdownRefusal(reason) ? reason : new UploadAbortedError(undefined, { cause: reason }));
  };
  private readonly onRequestClose = (): void => {
    if (!this.req.complete) this.fail(new UploadAbortedError('The client disconnected before the upload finished.'));
  };

  /** Body bytes arrived, or the parser is ready for more again: the client's idle time starts over. */
  private readonly onProgress = (): void => {
    this.idleTimer?.refresh();
  };

  /** Body bytes arrived: counted against {@link maxUploadBodyBytes}. */
  private readonly onData = (data: Buffer): void => {
    this.bodyBytes += data.length;
    if (this.bodyBytes > this.maxBodyBytes) this.fail(new UploadBodyTooLargeError(this.maxBodyBytes));
    else this.onProgress();
  };

  /**
   * No body byte for `idleTimeoutMs`. While the request is paused because the disk or a streaming handler is behind,
   * the silence is ours, not the client's: the time starts over (and again when busboy drains, see {@link start}).
   * Otherwise the client stalled: the upload fails as a refused one, which stops a streaming handler's loop.
   */
  private readonly onIdle = (): void => {
    if (this.req.readableFlowing === false) {
      this.idleTimer?.refresh();
      return;
    }
    const ms = this.limits.idleTimeoutMs;
    this.fail(new UploadError(408, 'upload_idle_timeout', `The upload stopped: no data arrived for ${ms} ms.`, ms));
  };

  private start(): void {
    if (this.signal.aborted) return this.onAbort();
    // The route reads the body only after the tier (a session lookup may take a while): a client that left before
    // then destroyed the request, whose 'close' came and went, and a destroyed request never delivers its body.
    if (this.req.destroyed) return this.fail(new UploadAbortedError('The client disconnected before the upload was read.'));
    if (!isMultipart(this.req)) {
      return this.fail(new UploadError(415, 'upload_not_multipart', 'Uploads must be sent as multipart/form-data.'));
    }
    // A declared length past the bound is refused before any of it is read.
    const declared = declaredBodyTooLarge(this.req, this.limits);
    if (declared) return this.fail(declared);
    let bb: Busboy;
    try {
      bb = busboy({
        headers: this.req.headers,
        // Keep the client's relative path (`photos/cat.png`): cleanUploadFileName makes it safe.
        preservePath: true,
        // Browsers send file names as raw UTF-8.
        defParamCharset: 'utf8',
        limits: {
          // busboy counts a part that reaches its limit as truncated: one more byte lets a part of exactly the limit pass.
          fileSize: this.limits.maxFileBytes + 1,
          files: this.limits.maxFiles,
          fieldSize: this.limits.maxEventArgsBytes + 1,
          fields: MAX_TEXT_FIELDS,
          // Every part counts, the ones busboy skips too (no Content-Disposition, or not `form-data`): no other limit
          // sees those, and a body of a million empty parts kept a core busy for seconds. One more than a form may
          // hold (the files and the text fields, the arguments among them), since busboy reports the limit when a part
          // reaching it ends.
          parts: this.limits.maxFiles + MAX_TEXT_FIELDS + 1,
        },
      });
    } catch (error) {
      return this.fail(malformedForm(error));
    }
    this.bb = bb;
    bb.on('field', (name, value, info) => this.onField(name, value, info.valueTruncated));
    bb.on('file', (name, stream, info) => this.onFile(name, stream, info.filename, info.mimeType));
    bb.on('filesLimit', () => this.fail(new UploadError(413, 'upload_too_many_files', `An upload may carry at most ${this.limits.maxFiles} files.`, this.limits.maxFiles)));
    bb.on('fieldsLimit', () => this.fail(new UploadError(400, 'upload_bad_form', `An upload form may have at most ${MAX_TEXT_FIELDS} text fields.`)));
    bb.on('partsLimit', () => this.fail(new UploadError(400, 'upload_bad_form', `An upload form may have at most ${this.limits.maxFiles + MAX_TEXT_FIELDS} parts.`)));
    bb.on('error', (error) => this.fail(malformedForm(error)));
    bb.on('close', () => {
      if (this.failure) return;
      // Every part was read; the last file may still be on its way to disk or into the iterator.
      void this.work.then(() => this.finish());
    });
    this.signal.addEventListener('abort', this.onAbort, { once: true });
    this.req.on('aborted', this.onRequestClose);
    this.req.on('close', this.onRequestClose);
    // A socket error after we are done must not go unhandled: the route sees it through its own listeners.
    this.req.on('error', this.onRequestClose);
    this.req.pipe(bb);
    // A client that stops sending mid-body would otherwise hold what the upload holds (a temp file, the tab's state
    // lock) until Node's requestTimeout. Unref'd: a stalled upload must not keep the process alive.
    this.idleTimer = setTimeout(this.onIdle, this.limits.idleTimeoutMs).unref();
    this.req.on('data', this.onData);
    // The pipe resumes the request on busboy's 'drain' without a 'resume' event: the time starts there.
    bb.on('drain', this.onProgress);
  }

  private finish(): void {
    if (this.failure || this.finished) return;
    this.finished = true;
    this.detach();
    this.settle.resolve();
  }

  /**
   * Reads and drops the rest of a refused body, so that a client sending it can finish and read the answer: up to
   * the body's bound ({@link maxUploadBodyBytes}, counted from the body's first byte) and while bytes keep coming
   * (`uploads.idleTimeoutMs`). Past either the connection is cut: a refused body was read and dropped without a
   * bound, a client posting an endless one kept the server reading it until Node's `requestTimeout` (300 s).
   */
  private dropRest(): void {
    const req = this.req;
    let bytes = this.bodyBytes;
    const cut = (): void => {
      stop();
      req.socket.destroy();
    };
    const idle = setTimeout(cut, this.limits.idleTimeoutMs).unref();
    const onData = (data: Buffer): void => {
      bytes += data.length;
      if (bytes > this.maxBodyBytes) cut();
      else idle.refresh();
    };
    const stop = (): void => {
      clearTimeout(idle);
      req.off('data', onData);
      req.off('end', stop);
      req.off('close', stop);
    };
    req.on('data', onData);
    req.once('end', stop);
    req.once('close', stop);
    req.resume();
  }

  private detach(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.req.off('data', this.onData);
    this.bb?.off('drain', this.onProgress);
    this.signal.removeEventListener('abort', this.onAbort);
    this.req.off('aborted', this.onRequestClose);
    this.req.off('close', this.onRequestClose);
  }

  private onField(name: string, value: string, truncated: boolean): void {
    if (this.failure) return;
    // Every text field busboy read is charged, the ignored ones too (decoding them cost the thread as well), before
    // the arguments are scanned: an address past its budget has this one refused unscanned.
    const refusal = this.chargeTextField(value.length);
    if (refusal !== undefined) return this.fail(refusal);
    // busboy takes a file part without a file name (none, or `filename=""` as a browser sends a File with an empty
    // name) for a text field unless it is `application/octet-stream`: ignored, the user's file was dropped and the
    // handler ran on the others, answered as a success.
    if (name === UPLOAD_FILES_FIELD) return this.fail(new UploadError(400, 'upload_bad_filename', 'A file part has no file name.'));
    // Other text fields are read (bounded) and ignored, as Reflex does.
    if (name !== UPLOAD_EVENT_ARGS_FIELD) return;
    if (this.fileSeen) return this.fail(new UploadError(400, 'upload_args_after_files', `${UPLOAD_EVENT_ARGS_FIELD} must come before the files.`));
    if (this.argsSeen) return this.fail(new UploadError(400, 'upload_bad_args', `${UPLOAD_EVENT_ARGS_FIELD} was sent twice.`));
    this.argsSeen = true;
    if (truncated) {
      return this.fail(new UploadError(413, 'upload_args_too_large', `${UPLOAD_EVENT_ARGS_FIELD} may be at most ${this.limits.maxEventArgsBytes} bytes.`, this.limits.maxEventArgsBytes));
    }
    try {
      this.sink.args(parseEventArgs(value, this.limits.maxEventArgsBytes));
    } catch (error) {
      this.fail(error);
    }
  }

  private onFile(field: string, stream: Readable & { truncated?: boolean }, filename: string | undefined, mimeType: string): void {
    if (this.failure) {
      stream.resume();
      return;
    }
    let name: string;
    try {
      if (field === UPLOAD_EVENT_ARGS_FIELD) throw new UploadError(400, 'upload_bad_form', `${UPLOAD_EVENT_ARGS_FIELD} must be a text field, not a file.`);
      if (field !== UPLOAD_FILES_FIELD) throw new UploadError(400, 'upload_bad_form', `File parts must be named "${UPLOAD_FILES_FIELD}".`);
      if (filename === undefined) throw new UploadError(400, 'upload_bad_filename', 'A file part has no file name.');
      name = cleanUploadFileName(filename);
    } catch (error) {
      stream.resume();
      return this.fail(error);
    }
    if (!this.fileSeen) {
      this.fileSeen = true;
      this.sink.firstFile();
    }
    this.liveStreams.add(stream);
    // A failure destroys it with the error, maybe before anyone reads it: that must not be an unhandled 'error'.
    stream.on('error', noop);
    stream.once('end', () => this.liveStreams.delete(stream));
    stream.once('limit', () => this.fail(this.fileTooLarge()));
    const part: IncomingFilePart = { name, contentType: mimeType, data: this.bytesOf(stream) };
    // One file at a time, in order: the next file's stream waits (and with it the request) until this one is stored.
    this.work = this.work.then(() => (this.failure ? undefined : this.sink.file(part))).catch((error: unknown) => this.fail(error));
  }

  private fileTooLarge(): UploadError {
    return new UploadError(413, 'upload_too_large', `Each uploaded file may be at most ${this.limits.maxFileBytes} bytes.`, this.limits.maxFileBytes);
  }

  /** A file's bytes as they arrive, counted against the total; busboy's own errors become 400s. */
  private async *bytesOf(stream: Readable & { truncated?: boolean }): AsyncGenerator<Buffer> {
    try {
      for await (const data of readableChunks(stream)) {
        this.totalBytes += data.length;
        if (this.totalBytes > this.limits.maxTotalBytes) {
          throw new UploadError(413, 'upload_too_large', `An upload may carry at most ${this.limits.maxTotalBytes} bytes of files.`, this.limits.maxTotalBytes);
        }
        yield data;
      }
    } catch (error) {
      if (error instanceof UploadError || error instanceof UploadAbortedError || this.failure) throw error;
      throw malformedForm(error);
    }
    if (stream.truncated) throw this.fileTooLarge();
  }

  private fail(thrown: unknown): void {
    if (this.failure || this.finished) return;
    const error = asError(thrown);
    this.failure = { error };
    this.detach();
    if (this.bb) this.req.unpipe(this.bb);
    // Read and drop the rest, so the client can finish sending and read the answer (nothing is kept); not for a
    // client that went away or stopped sending (there is no rest to wait for), nor one past the body's bound (its
    // rest is not worth reading): the route closes the connection.
    if (!(error instanceof UploadAbortedError) && !closesConnection(error)) this.dropRest();
    for (const stream of this.liveStreams) stream.destroy(error);
    this.liveStreams.clear();
    this.sink.failed(error);
    const cleanup = (): Promise<void> => this.sink.cleanup();
    void this.work
      .then(cleanup, cleanup)
      .catch(noop)
      .then(() => this.settle.reject(error));
  }
}

/**
 * This upload cannot be stored now: the worker's buffered uploads hold `uploads.maxTempBytes` already (the limit in the
 * body), or the temp directory's device itself is full (`cause`, the file system's error, for the log; no limit).
 */
function storageFull(budget: TempDiskBudget, cause?: unknown): UploadError {
  const error = new UploadError(507, 'upload_storage_full', 'The server has no room for this upload right now; try again later.', cause === undefined ? budget.maxBytes : undefined);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/**
 * The temp directory's device (or the user's quota on it) is full: the disk the app shares with its database and logs
 * filled before `uploads.maxTempBytes` did. Not the handler's failure (it never ran) nor the client's: a `507`, to try
 * again later, as for the budget; before, it was a `500 handler_error` the tab was never told of.
 */
function deviceFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The temp directory cannot be made or written at all: its file system is read-only (`EROFS`: a container's read-only
 * root, a disk the kernel remounted read-only after errors), the worker may not write there (`EACCES`, `EPERM`), a
 * file stands where a folder of its path should be (`ENOTDIR`), the device fails (`EIO`), or the folder was removed
 * under the upload (`ENOENT`: a temp cleaner). The server's storage, not the handler (it never ran) nor the client.
 */
const UNWRITABLE = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EIO', 'ENOENT']);

function storageUnwritable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && UNWRITABLE.has(code);
}

/**
 * This upload cannot be stored until an operator fixes the temp directory (see {@link storageUnwritable}): a `503`, not
 * a `507` (there is no lack of room that other uploads ending would give back). `cause`, the file system's error, is
 * for the log.
 */
function storageUnavailable(cause: unknown): UploadError {
  const error = new UploadError(503, 'upload_storage_unavailable', 'The server cannot store uploads right now; try again later.');
  error.cause = cause;
  return error;
}

/** The structured refusal a file system error of the temp directory stands for, or the error itself. */
function storageFailure(error: unknown, budget: TempDiskBudget): unknown {
  if (deviceFull(error)) return storageFull(budget, error);
  if (storageUnwritable(error)) return storageUnavailable(error);
  return error;
}

/**
 * Parses a buffered upload (a handler with an `@EventUploads()` parameter): the whole form, each file streamed to its
 * own temp file under `limits.tempDirectory` as it arrives (never whole in memory; the request is paused while the disk
 * is behind), each byte taken from `budget` (the worker's `uploads.maxTempBytes`) and given back by `dispose()`.
 *
 * Resolves when the request was read to its end. Rejects with an {@link UploadError} (400 bad form or arguments, 413 a
 * limit with the limit, 415 not multipart, 408 no body byte for `idleTimeoutMs`, 507 `budget` spent or the device full,
 * 503 `upload_storage_unavailable` the temp directory not writable), an {@link UploadAbortedError} (`signal` aborted, the client gone), or a
 * file system error; in every case after the temp files were removed. After it resolves, the caller owns the files
 * and must call `dispose()` when the handler ends, whatever happens. Each text field is passed to `chargeTextField`
 * once read, before it is looked into; what that returns fails the upload (and its body's rest is not read).
 */
export async function parseBufferedUpload(req: IncomingMessage, limits: ResolvedUploadOptions, signal: AbortSignal, budget: TempDiskBudget, chargeTextField: TextFieldCharge = FREE_TEXT_FIELDS): Promise<BufferedUpload> {
  let args: Record<string, unknown> = {};
  const files: UploadFile[] = [];
  let directory: string | undefined;
  /** Bytes of `budget` this upload's files hold. */
  let held = 0;
  const dispose = async (): Promise<void> => {
    try {
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    } finally {
      // Given back even when the removal failed: the budget must not shrink for good with each such failure.
      budget.give(held);
      held = 0;
    }
  };
  const sink: PartSink = {
    args: (value) => {
      args = value;
    },
    firstFile: noop,
    file: async (part) => {
      // Created lazily, inside the serial work, so cleanup (which waits for that work) always sees it. The temp
      // directory itself may not exist yet (a fresh deploy, a folder beside `uploads.directory` that nothing made).
      if (directory === undefined) {
        try {
          await mkdir(limits.tempDirectory, { recursive: true });
          directory = await mkdtemp(join(limits.tempDirectory, TEMP_UPLOAD_DIRECTORY_PREFIX));
        } catch (error) {
          // A device without an inode (or a block) left, or one that cannot be written, fails here, before any byte is
          // written.
          throw storageFailure(error, budget);
        }
      }
      const path = join(directory, tempUploadFileName(files.length));
      const out = createWriteStream(path, { flags: 'wx' });
      let size = 0;
      try {
        await pipeline(async function* counted() {
          for await (const data of part.data) {
            if (!budget.take(data.length)) throw storageFull(budget);
            held += data.length;
            size += data.length;
            yield data;
          }
        }, out);
      } catch (error) {
        // The file must be closed before the directory goes, or its late open could outlive the cleanup.
        if (!out.closed) await once(out, 'close').catch(noop);
        throw storageFailure(error, budget);
      }
      files.push(new UploadFile(part.name, size, part.contentType, path));
    },
    failed: noop,
    cleanup: dispose,
  };
  await new MultipartReader(req, limits, signal, sink, chargeTextField).run();
  return { args, files, dispose };
}

/**
 * Starts reading a streaming upload (a handler with an `@EventUploadChunks()` parameter): nothing is stored; each file's
 * bytes are pushed into `chunks` as they arrive, and the request is paused while the iterator is full. `args` resolves
 * at the first file part (start the handler then), `done` when the request was read to its end and `chunks` ended.
 *
 * On a failure (as for {@link parseBufferedUpload}, `chargeTextField` included) `args` (if still pending) and `done` reject with it and `chunks`
 * fails with it, so the handler's `for await` throws it (`UploadAbortedError` when the client went away). Neither
 * promise is left unhandled if the caller ignores one.
 */
export function streamUpload(req: IncomingMessage, limits: ResolvedUploadOptions, signal: AbortSignal, chargeTextField: TextFieldCharge = FREE_TEXT_FIELDS): StreamingUpload {
  const chunks = new UploadChunkIterator(limits.chunkQueueLength);
  // The reader stops listening once the body has arrived; a cancellation after that (the client gone, the state lock
  // lost) must still stop the handler's loop over the chunks it has not read yet.
  signal.addEventListener('abort', () => chunks.fail(new UploadAbortedError(undefined, { cause: signal.reason })), { once: true });
  let failure: Error | undefined;
  let parsedArgs: Record<string, unknown> = {};
  let resolveArgs: (value: Record<string, unknown>) => void = noop;
  let rejectArgs: (error: Error) => void = noop;
  const args = new Promise<Record<string, unknown>>((resolve, reject) => {
    resolveArgs = resolve;
    rejectArgs = reject;
  });
  const sink: PartSink = {
    args: (value) => {
      parsedArgs = value;
    },
    firstFile: () => resolveArgs(parsedArgs),
    file: async (part) => {
      let offset = 0;
      for await (const data of part.data) {
        await chunks.push({ filename: part.name, offset, contentType: part.contentType, data });
        offset += data.length;
      }
      // A zero-length file still yields one (empty) chunk, so the handler learns of it.
      if (offset === 0) await chunks.push({ filename: part.name, offset: 0, contentType: part.contentType, data: Buffer.alloc(0) });
    },
    failed: (error) => {
      failure = error;
      rejectArgs(error);
      chunks.fail(error);
    },
    cleanup: () => Promise.resolve(),
  };
  const done = new MultipartReader(req, limits, signal, sink, chargeTextField).run().then(() => {
    resolveArgs(parsedArgs);
    chunks.end();
  });
  // Callers may await only one of them; a failure must not also surface as an unhandled rejection.
  args.catch(noop);
  done.catch(noop);
  return {
    args,
    chunks,
    done,
    get failure() {
      return failure;
    },
  };
}

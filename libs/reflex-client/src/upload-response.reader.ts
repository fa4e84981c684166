import { NdjsonLineSplitter } from './ndjson-line.splitter.js';
import type { StateUpdate } from './state-update.types.js';
import { UploadRequestError } from './upload-request.error.js';
import type { UploadResult } from './upload.types.js';

/** How much of an error answer is kept: enough for any structured body, bounded against a hostile one. */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A `Retry-After` header in milliseconds: delay-seconds or an HTTP date (RFC 9110), never negative; `undefined`
 * when absent or unreadable.
 */
export function retryAfterMsOf(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the IMF-fixdate servers send (`Fri, 04 Dec 2026 18:00:05 GMT`): Date.parse alone takes `-5` for a year.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Reads an upload's answer as it arrives, whichever transport carries it.
 *
 * A `200` body is NDJSON: each whole line is parsed and handed to `onUpdate` at once, in order, so deltas reach
 * the state while the handler still runs. A `202` body (`{}`) carries nothing to apply. Any other status is an
 * error whose JSON body `{detail, code, limit?}` becomes an {@link UploadRequestError}.
 */
export class UploadResponseReader {
  private readonly splitter = new NdjsonLineSplitter();
  private readonly updates: StateUpdate[] = [];
  /** Updates applied but left out of the result, past `maxUpdates`. */
  private droppedUpdates = 0;
  private status = 0;
  private retryAfterMs: number | undefined;
  private errorText = '';
  private readonly decoder = new TextDecoder('utf-8');
  /** Characters (bytes, for byte chunks) of the body so far. */
  private received = 0;

  /**
   * @param onUpdate Applies one update; `false` when it refused it (past a frame limit), which leaves it out of the result.
   * @param maxUpdates Most updates the result keeps: the last ones, the earlier ones only counted.
   * @param maxChars Longest body read, in characters (bytes, for byte chunks).
   */
  constructor(
    private readonly onUpdate: (update: StateUpdate) => boolean | void,
    private readonly maxUpdates = Infinity,
    private readonly maxChars = Infinity,
  ) {}

  /** True once the status is known and is not a success. */
  get failed(): boolean {
    return this.status !== 0 && (this.status < 200 || this.status > 299);
  }

  /** The response's status line arrived, with its `Retry-After` header if any. */
  begin(status: number, retryAfter?: string | null): void {
    this.status = status;
    this.retryAfterMs = retryAfterMsOf(retryAfter);
  }

  /**
   * Adds a piece of the body.
   * @throws UploadRequestError `invalid_response` when a success body holds a line that is not a JSON object;
   * `answer_too_large` when the body grows past `maxChars` (a refusal's body: the refusal, from what was kept).
   */
  push(chunk: Uint8Array | string): void {
    this.received += typeof chunk === 'string' ? chunk.length : chunk.byteLength;
    if (this.received > this.maxChars) {
      // The caller closes the connection: a browser's XMLHttpRequest would otherwise keep an endless answer whole.
      if (this.failed) throw this.error();
      throw new UploadRequestError(0, 'answer_too_large', `The upload answer grew past maxUploadAnswerChars (${this.maxChars}).`, { limit: this.maxChars });
    }
    if (this.failed) {
      if (this.errorText.length < MAX_ERROR_BODY_CHARS) {
        this.errorText += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
      }
      return;
    }
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (error) {
      throw new UploadRequestError(0, 'invalid_response', 'The upload answer has a line too long to be a state update.', { cause: error });
    }
    for (const line of lines) this.line(line);
  }

  /**
   * The body ended.
   * @returns The result of a successful upload.
   * @throws UploadRequestError the server's structured error, or `invalid_response`.
   */
  end(): UploadResult {
    if (this.failed) throw this.error();
    for (const line of this.splitter.flush()) this.line(line);
    const status = this.status;
    return { status, mode: status === 202 ? 'streaming' : 'buffered', updates: this.updates, droppedUpdates: this.droppedUpdates };
  }

  /** The error for a failed status, from whatever part of its body arrived. */
  error(): UploadRequestError {
    const status = this.status;
    let body: unknown;
    try {
      body = JSON.parse(this.errorText);
    } catch {
      body = undefined;
    }
    const fields = isRecord(body) ? body : {};
    const code = typeof fields['code'] === 'string' && fields['code'].length > 0 ? fields['code'] : `http_${status}`;
    const detail = typeof fields['detail'] === 'string' ? fields['detail'] : this.errorText.slice(0, 500) || `HTTP ${status}`;
    const limit = typeof fields['limit'] === 'number' ? fields['limit'] : undefined;
    return new UploadRequestError(status, code, detail, { limit, retryAfterMs: this.retryAfterMs });
  }

  private line(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UploadRequestError(0, 'invalid_response', `The upload answer has a line that is not JSON: ${line.slice(0, 200)}`, { cause: error });
    }
    if (!isRecord(value)) throw new UploadRequestError(0, 'invalid_response', `The upload answer has a line that is not an object: ${line.slice(0, 200)}`);
    if (this.status === 202) return;
    const update = value as StateUpdate;
    if (this.onUpdate(update) === false) return;
    this.updates.push(update);
    // The last ones kept: the answer's end (the handler's final state, its last message) is what a caller reads.
    if (this.updates.length > this.maxUpdates) {
      this.updates.shift();
      this.droppedUpdates += 1;
    }
  }
}

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, request, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxUploadBodyBytes, parseBufferedUpload, streamUpload } from './multipart-upload.parser.js';
import { MAX_EVENT_VALUES, parseInboundEvent } from '../protocol/inbound-event.js';
import type { UploadChunk } from './upload-chunk.js';
import { UploadAbortedError, UploadError } from './upload.error.js';
import type { ResolvedUploadOptions } from './upload.options.js';
import { TempDiskBudget } from './temp-disk-budget.js';

// ─── A real HTTP server whose handler each test sets, and a raw multipart client ────────────────────────────────

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

let server: Server;
let port: number;
let handler: Handler;
let tempRoot: string;
let limits: ResolvedUploadOptions;
/** The worker's temp disk budget, as the route holds it: fresh per test. */
let budget: TempDiskBudget;

function options(overrides: Partial<ResolvedUploadOptions> = {}): ResolvedUploadOptions {
  return { directory: join(tempRoot, 'stored'), tempDirectory: tempRoot, maxFileBytes: 4096, maxFiles: 5, maxTotalBytes: 10_000, maxEventArgsBytes: 256, chunkQueueLength: 4, idleTimeoutMs: 30_000, maxConcurrent: 64, maxConcurrentPerAddress: 8, maxTempBytes: 1_000_000_000, eventArgsPerAddress: undefined, ...overrides };
}

/** Temp entries left by the parser (the per-request directories it creates). */
function leftovers(): string[] {
  return readdirSync(tempRoot).filter((name) => name.startsWith('reflex-upload-'));
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

function answerError(res: ServerResponse, error: unknown): void {
  if (error instanceof UploadError) answer(res, error.status, error.toBody());
  else if (error instanceof UploadAbortedError) answer(res, 499, { detail: error.message, code: 'aborted' });
  else answer(res, 500, { detail: String(error) });
}

/** The route a buffered upload would have, minus the pipeline: parse, report, dispose. */
const bufferedRoute = (seen?: (paths: string[]) => void): Handler => async (req, res) => {
  try {
    const upload = await parseBufferedUpload(req, limits, new AbortController().signal, budget);
    let files: unknown;
    try {
      seen?.(upload.files.map((file) => file.path));
      files = upload.files.map((file) => ({ name: file.name, size: file.size, contentType: file.contentType, sha: createHash('sha1').update(readFileSync(file.path)).digest('hex') }));
    } finally {
      await upload.dispose();
    }
    answer(res, 200, { args: upload.args, files });
  } catch (error) {
    answerError(res, error);
  }
};

/** The route a streaming upload would have: the "handler" reads every chunk. */
const streamingRoute: Handler = async (req, res) => {
  const upload = streamUpload(req, limits, new AbortController().signal);
  try {
    const args = await upload.args;
    const files: { name: string; size: number; contentType: string; hash: ReturnType<typeof createHash>; chunks: number }[] = [];
    for await (const chunk of upload.chunks) {
      // Offset 0 starts the next file (an empty file is one empty chunk at 0).
      if (chunk.offset === 0) files.push({ name: chunk.filename, size: 0, contentType: chunk.contentType, hash: createHash('sha1'), chunks: 0 });
      const file = files.at(-1)!;
      expect([chunk.filename, chunk.offset]).toEqual([file.name, file.size]);
      file.size += chunk.data.length;
      file.chunks += 1;
      file.hash.update(chunk.data);
    }
    await upload.done;
    answer(res, 202, { args, files: files.map((file) => ({ name: file.name, size: file.size, contentType: file.contentType, sha: file.hash.digest('hex'), chunks: file.chunks })) });
  } catch (error) {
    answerError(res, error);
  }
};

interface Part {
  name: string;
  filename?: string;
  /** A raw Content-Disposition parameter string instead of `filename="…"` (for `filename*=`). */
  dispositionExtra?: string;
  contentType?: string;
  data: Buffer | string;
}

const BOUNDARY = '----reflexBridgeSpecBoundary7MA4YWxkTrZu0gW';

function multipart(parts: Part[], boundary = BOUNDARY): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    let disposition = `form-data; name="${part.name}"`;
    if (part.filename !== undefined) disposition += `; filename="${part.filename}"`;
    if (part.dispositionExtra) disposition += `; ${part.dispositionExtra}`;
    let head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\n`;
    if (part.contentType) head += `Content-Type: ${part.contentType}\r\n`;
    pieces.push(Buffer.from(`${head}\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** Posts `body` in the given pieces (all of it when none given) and reads the JSON answer. */
function post(body: Buffer, { pieces, contentType = `multipart/form-data; boundary=${BOUNDARY}` }: { pieces?: number[]; contentType?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/_upload', agent: false, headers: { 'Content-Type': contentType, 'Content-Length': body.length } }, (res) => {
      const data: Buffer[] = [];
      res.on('data', (d: Buffer) => data.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(data).toString() || '{}') as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    let at = 0;
    for (const size of pieces ?? []) {
      if (at >= body.length) break;
      req.write(body.subarray(at, at + size));
      at += size;
    }
    req.end(body.subarray(at));
  });
}

/**
 * A request that declares a 5,000-byte form and sends its first 600 bytes (part of one file), then nothing more:
 * `written` runs once they are written (a test may leave then).
 */
function partOfAFile(written?: () => void): ClientRequest {
  const head = multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(1000, 3) }]).subarray(0, 600);
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/_upload', agent: false, headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, 'Content-Length': 5000 } });
  req.on('error', () => undefined);
  req.write(head, written);
  return req;
}

/** Makes the server parse each upload as a buffered one with `signal`; returns what the last parse ended with. */
function bufferedParseOutcome(signal = new AbortController().signal): () => unknown {
  let outcome: unknown;
  handler = async (req, res) => {
    outcome = await parseBufferedUpload(req, limits, signal, budget).then(() => 'parsed', (error: unknown) => error);
    res.destroy();
  };
  return () => outcome;
}

/**
 * Makes the server run each streaming upload's handler loop to its end, summing the bytes it read, then check the
 * upload's `done` with `checkDone`; returns what was read and how the loop ended so far.
 */
function streamingLoop(checkDone: (done: Promise<void>) => Promise<void>): { received(): number; outcome(): unknown } {
  let outcome: unknown;
  let received = 0;
  handler = async (req) => {
    const upload = streamUpload(req, limits, new AbortController().signal);
    try {
      await upload.args;
      for await (const chunk of upload.chunks) received += chunk.data.length;
      outcome = 'ended';
    } catch (error) {
      outcome = error;
    }
    await checkDone(upload.done);
  };
  return { received: () => received, outcome: () => outcome };
}

function sha(data: Buffer | string): string {
  return createHash('sha1').update(data).digest('hex');
}

beforeAll(async () => {
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  tempRoot = mkdtempSync(join(tmpdir(), 'upload-parser-spec-'));
  limits = options();
  budget = new TempDiskBudget(limits.maxTempBytes);
});
afterEach(() => {
  rmSync(tempRoot, { recursive: true, force: true });
});

// ─── Buffered ──────────────────────────────────────────────────────────────────────────────────────────────────

describe('parseBufferedUpload', () => {
  it('parses a browser-style form (fetch + FormData): the args, and each file in a temp file until dispose', async () => {
    let paths: string[] = [];
    handler = bufferedRoute((seen) => {
      paths = seen;
      for (const path of seen) expect(existsSync(path)).toBe(true);
    });
    const form = new FormData();
    form.append('__reflex_event_args', JSON.stringify({ productId: 7, tags: ['a'] }));
    form.append('files', new Blob(['png bytes'], { type: 'image/png' }), 'photos/cat.png');
    form.append('files', new Blob([''], { type: 'text/plain' }), 'empty.txt');
    const res = await fetch(`http://127.0.0.1:${port}/_upload`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      args: { productId: 7, tags: ['a'] },
      files: [
        { name: 'photos/cat.png', size: 9, contentType: 'image/png', sha: sha('png bytes') },
        { name: 'empty.txt', size: 0, contentType: 'text/plain', sha: sha('') },
      ],
    });
    expect(paths).toHaveLength(2);
    for (const path of paths) expect(existsSync(path)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('creates a tempDirectory that does not exist yet (a fresh deploy) instead of failing every upload', async () => {
    limits = options({ tempDirectory: join(tempRoot, 'uploaded_files', '.incoming') });
    let paths: string[] = [];
    handler = bufferedRoute((seen) => {
      paths = seen;
    });
    const reply = await post(multipart([{ name: 'files', filename: 'a.txt', data: 'hello' }]));
    expect(reply).toEqual({ status: 200, body: { args: {}, files: [{ name: 'a.txt', size: 5, contentType: 'text/plain', sha: sha('hello') }] } });
    expect(paths[0]!.startsWith(join(tempRoot, 'uploaded_files', '.incoming', 'reflex-upload-'))).toBe(true);
    expect(readdirSync(join(tempRoot, 'uploaded_files', '.incoming'))).toEqual([]);
  });

  it('cleans hostile file names and keeps UTF-8 names', async () => {
    handler = bufferedRoute();
    const body = multipart([
      { name: 'files', filename: '../../etc/passwd', data: 'x' },
      { name: 'files', filename: 'C:\\Users\\me\\doc.txt', data: 'y' },
      { name: 'files', filename: 'fotos/größe 文件.txt', data: 'z' },
    ]);
    const reply = await post(body);
    expect(reply.status).toBe(200);
    expect((reply.body.files as { name: string }[]).map((file) => file.name)).toEqual(['etc/passwd', 'doc.txt', 'fotos/größe 文件.txt']);
  });

  it('refuses a file past the worker\'s temp disk budget with 507, keeps nothing, and gives the bytes back', async () => {
    budget = new TempDiskBudget(2500);
    // The first upload holds 2,000 bytes until its "handler" is told to end.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    handler = async (req, res) => {
      try {
        const upload = await parseBufferedUpload(req, limits, new AbortController().signal, budget);
        if (upload.files[0]?.size === 2000) {
          holding = true;
          await released;
        }
        await upload.dispose();
        answer(res, 200, { files: upload.files.map((file) => file.size) });
      } catch (error) {
        answerError(res, error);
      }
    };
    const first = post(multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(2000, 1) }]));
    await waitFor(() => holding, 'the first upload to hold its bytes');
    expect(budget.heldBytes).toBe(2000);
    const refused = await post(multipart([{ name: 'files', filename: 'small.bin', data: Buffer.alloc(400, 2) }, { name: 'files', filename: 'b.bin', data: Buffer.alloc(1000, 3) }]));
    expect(refused).toEqual({ status: 507, body: { detail: expect.stringContaining('no room'), code: 'upload_storage_full', limit: 2500 } });
    // The refused upload's first file (stored before the budget ran out) is gone, and its bytes are back.
    expect(budget.heldBytes).toBe(2000);
    expect(leftovers()).toHaveLength(1);
    release();
    expect(await first).toEqual({ status: 200, body: { files: [2000] } });
    expect(budget.heldBytes).toBe(0);
    expect(await post(multipart([{ name: 'files', filename: 'b.bin', data: Buffer.alloc(1000, 3) }]))).toEqual({ status: 200, body: { files: [1000] } });
    expect(leftovers()).toEqual([]);
  });

  it('writes a file to disk while it arrives, not after the whole request', async () => {
    limits = options({ maxFileBytes: 8_000_000, maxTotalBytes: 8_000_000 });
    let parsed = false;
    handler = async (req, res) => {
      await bufferedRoute()(req, res);
      parsed = true;
    };
    const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    const fileSize = 4_000_000;
    const replied = new Promise<Reply>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/_upload', agent: false, headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, 'Content-Length': head.length + fileSize + tail.length } }, (res) => {
        const data: Buffer[] = [];
        res.on('data', (d: Buffer) => data.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(data).toString()) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.write(head);
      req.write(Buffer.alloc(fileSize / 2, 1));
      // Only half the file was sent: the temp file must already hold (most of) it.
      const tempFile = (): string | undefined => {
        const dir = leftovers()[0];
        return dir && existsSync(join(tempRoot, dir, '0')) ? join(tempRoot, dir, '0') : undefined;
      };
      waitFor(() => {
        const file = tempFile();
        return file !== undefined && statSync(file).size >= fileSize / 4;
      }, 'the temp file to fill while the request is still open')
        .then(() => {
          expect(parsed).toBe(false);
          req.end(Buffer.concat([Buffer.alloc(fileSize / 2, 1), tail]));
        })
        .catch(reject);
    });
    const reply = await replied;
    expect(reply.status).toBe(200);
    expect(reply.body.files).toEqual([{ name: 'big.bin', size: fileSize, contentType: 'text/plain', sha: sha(Buffer.alloc(fileSize, 1)) }]);
    expect(leftovers()).toEqual([]);
  });

  it.each([
    ['a file of exactly maxFileBytes passes', [{ name: 'files', filename: 'a', data: Buffer.alloc(4096) }], 200, undefined],
    ['a file over maxFileBytes is 413 upload_too_large', [{ name: 'files', filename: 'a', data: Buffer.alloc(4097) }], 413, { code: 'upload_too_large', limit: 4096 }],
    ['maxFiles files pass', Array.from({ length: 5 }, () => ({ name: 'files', filename: 'f', data: 'x' })), 200, undefined],
    ['one file over maxFiles is 413 upload_too_many_files', Array.from({ length: 6 }, () => ({ name: 'files', filename: 'f', data: 'x' })), 413, { code: 'upload_too_many_files', limit: 5 }],
    ['files totalling maxTotalBytes pass', [4000, 4000, 2000].map((n) => ({ name: 'files', filename: 'f', data: Buffer.alloc(n) })), 200, undefined],
    ['files over maxTotalBytes are 413 upload_too_large', [4000, 4000, 2001].map((n) => ({ name: 'files', filename: 'f', data: Buffer.alloc(n) })), 413, { code: 'upload_too_large', limit: 10_000 }],
    ['args of exactly maxEventArgsBytes pass', [{ name: '__reflex_event_args', data: JSON.stringify({ s: 'x'.repeat(248) }) }], 200, undefined],
    ['args over maxEventArgsBytes are 413 upload_args_too_large', [{ name: '__reflex_event_args', data: JSON.stringify({ s: 'x'.repeat(249) }) }], 413, { code: 'upload_args_too_large', limit: 256 }],
    ['args after a file are 400', [{ name: 'files', filename: 'a', data: 'x' }, { name: '__reflex_event_args', data: '{}' }], 400, { code: 'upload_args_after_files' }],
    ['args sent twice are 400', [{ name: '__reflex_event_args', data: '{}' }, { name: '__reflex_event_args', data: '{}' }], 400, { code: 'upload_bad_args' }],
    ['args that are not JSON are 400', [{ name: '__reflex_event_args', data: '{nope' }], 400, { code: 'upload_bad_args' }],
    ['args that are not an object are 400', [{ name: '__reflex_event_args', data: '[1,2]' }], 400, { code: 'upload_bad_args' }],
    ['args with __proto__ are 400', [{ name: '__reflex_event_args', data: '{"__proto__": {"admin": true}}' }], 400, { code: 'upload_bad_args' }],
    ['args with a nested constructor key are 400', [{ name: '__reflex_event_args', data: '{"a": [{"constructor": {"prototype": 1}}]}' }], 400, { code: 'upload_bad_args' }],
    ['args sent as a file are 400', [{ name: '__reflex_event_args', filename: 'args.json', data: '{}' }], 400, { code: 'upload_bad_form' }],
    ['a file under another field name is 400', [{ name: 'upload', filename: 'a', data: 'x' }], 400, { code: 'upload_bad_form' }],
    ['a file name with NUL is 400', [{ name: 'files', dispositionExtra: "filename*=UTF-8''a%00b.txt", data: 'x' }], 400, { code: 'upload_bad_filename' }],
    ['a file name of only dots is 400', [{ name: 'files', filename: '../..', data: 'x' }], 400, { code: 'upload_bad_filename' }],
    ['a file part without a name is 400', [{ name: 'files', contentType: 'application/octet-stream', data: 'x' }], 400, { code: 'upload_bad_filename' }],
  ] as [string, Part[], number, Record<string, unknown> | undefined][])('%s, and leaves no temp file', async (_title, parts, status, error) => {
    handler = bufferedRoute();
    // A file before each case's parts, so a refusal always has a temp file to remove (unless args must lead).
    const lead: Part[] = parts[0]!.name === '__reflex_event_args' || status === 200 ? [] : [{ name: 'files', filename: 'lead.bin', data: Buffer.alloc(10) }];
    const body = multipart(error?.code === 'upload_too_many_files' || error?.code === 'upload_too_large' ? parts : [...lead, ...parts]);
    const reply = await post(body, { pieces: [7, 100, 1, 999] });
    expect(reply.status).toBe(status);
    if (error) expect(reply.body).toMatchObject(error);
    expect(leftovers()).toEqual([]);
  });

  it('answers 415 for a body that is not multipart, and 400 for multipart without a boundary or cut short', async () => {
    handler = bufferedRoute();
    expect(await post(Buffer.from('{}'), { contentType: 'application/json' })).toMatchObject({ status: 415, body: { code: 'upload_not_multipart' } });
    expect(await post(Buffer.from('x'), { contentType: 'multipart/form-data' })).toMatchObject({ status: 400, body: { code: 'upload_bad_form' } });
    const whole = multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(3000, 2) }]);
    const cut = whole.subarray(0, 2000);
    expect(await post(cut)).toMatchObject({ status: 400, body: { code: 'upload_bad_form' } });
    expect(leftovers()).toEqual([]);
  });

  it("says a part's headers may be too long when busboy calls them malformed (past its 16 KiB)", async () => {
    handler = bufferedRoute();
    const file = multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(10, 1) }]);
    const longHeaders = Buffer.from(`--${BOUNDARY}\r\nX-Filler: ${'y'.repeat(17 * 1024)}\r\n\r\nx\r\n`);
    const reply = await post(Buffer.concat([longHeaders, file]));
    expect(reply).toMatchObject({ status: 400, body: { code: 'upload_bad_form' } });
    expect((reply.body as { detail: string }).detail).toContain("a part's headers are malformed or longer than 16 KiB");
    expect(leftovers()).toEqual([]);
  });

  it('refuses a form with more parts than files, text fields and arguments, counting the parts busboy skips', async () => {
    handler = bufferedRoute();
    // Parts without Content-Disposition (or not form-data) are neither fields nor files: only the parts limit sees them.
    const skipped = (count: number, header = 'X-Filler: y') => Buffer.from(`--${BOUNDARY}\r\n${header}\r\n\r\nx\r\n`.repeat(count));
    const file = multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(10, 1) }]);
    expect(await post(Buffer.concat([skipped(100), file]))).toMatchObject({ status: 400, body: { code: 'upload_bad_form' } });
    expect(await post(Buffer.concat([skipped(100, 'Content-Disposition: inline'), file]))).toMatchObject({ status: 400, body: { code: 'upload_bad_form' } });
    // The most a form may hold passes: every file and 32 text fields, the arguments among them.
    const full = multipart([
      { name: '__reflex_event_args', data: '{}' },
      ...Array.from({ length: 31 }, (_, i) => ({ name: `other${i}`, data: 'v' })),
      ...Array.from({ length: limits.maxFiles }, (_, i) => ({ name: 'files', filename: `${i}.bin`, data: Buffer.alloc(10, i) })),
    ]);
    expect(await post(full)).toMatchObject({ status: 200 });
    expect(leftovers()).toEqual([]);
  });

  it('a client that disconnects mid-file rejects with UploadAbortedError and leaves no temp file', async () => {
    const outcome = bufferedParseOutcome();
    const req = partOfAFile();
    await waitFor(() => leftovers().length > 0 && readdirSync(join(tempRoot, leftovers()[0]!)).length > 0, 'the temp file');
    req.destroy();
    await waitFor(() => outcome() !== undefined, 'the parser to give up');
    expect(outcome()).toBeInstanceOf(UploadAbortedError);
    await waitFor(() => leftovers().length === 0, 'the temp files to go');
  });

  it('a client that stops sending mid-file rejects with 408 upload_idle_timeout after idleTimeoutMs and leaves no temp file', async () => {
    limits = options({ idleTimeoutMs: 200 });
    const outcome = bufferedParseOutcome();
    // The client sends part of the file, then nothing: it stays connected, as a slowloris does.
    const req = partOfAFile();
    try {
      await waitFor(() => outcome() !== undefined, 'the parser to give up');
      expect(outcome()).toBeInstanceOf(UploadError);
      expect((outcome() as UploadError).toBody()).toEqual({ detail: expect.stringContaining('200 ms') as unknown, code: 'upload_idle_timeout', limit: 200 });
      expect((outcome() as UploadError).status).toBe(408);
      await waitFor(() => leftovers().length === 0, 'the temp files to go');
    } finally {
      req.destroy();
    }
  });

  it('an aborted signal mid-file rejects with UploadAbortedError and leaves no temp file', async () => {
    const controller = new AbortController();
    const outcome = bufferedParseOutcome(controller.signal);
    const req = partOfAFile();
    await waitFor(() => leftovers().length > 0 && readdirSync(join(tempRoot, leftovers()[0]!)).length > 0, 'the temp file');
    controller.abort();
    await waitFor(() => outcome() !== undefined, 'the parser to give up');
    expect(outcome()).toBeInstanceOf(UploadAbortedError);
    expect(leftovers()).toEqual([]);
    req.destroy();
  });

  it('a request whose client left before parsing began (while the tier ran) rejects with UploadAbortedError instead of hanging', async () => {
    let outcome: unknown;
    handler = async (req) => {
      // The route reads the body only once the tier passed: the client may be gone by then.
      await waitFor(() => req.destroyed, 'the server to see the client leave');
      outcome = await parseBufferedUpload(req, limits, new AbortController().signal, budget).then(() => 'parsed', (error: unknown) => error);
    };
    const req = partOfAFile(() => req.destroy());
    await waitFor(() => outcome !== undefined, 'the parser to give up');
    expect(outcome).toBeInstanceOf(UploadAbortedError);
    expect(leftovers()).toEqual([]);
  });

  it('a signal aborted before parsing rejects at once and creates nothing', async () => {
    let outcome: unknown;
    handler = async (req, res) => {
      const controller = new AbortController();
      controller.abort();
      outcome = await parseBufferedUpload(req, limits, controller.signal, budget).catch((error: unknown) => error);
      answer(res, 499, {});
    };
    await post(multipart([{ name: 'files', filename: 'a', data: 'x' }]));
    expect(outcome).toBeInstanceOf(UploadAbortedError);
    expect(leftovers()).toEqual([]);
  });

  it('files moved away with moveTo survive dispose; the rest do not', async () => {
    const stored = join(tempRoot, 'stored');
    handler = async (req, res) => {
      const upload = await parseBufferedUpload(req, limits, new AbortController().signal, budget);
      await upload.files[0]!.moveTo(join(stored, upload.files[0]!.name));
      await upload.dispose();
      await upload.dispose();
      answer(res, 200, {});
    };
    await post(multipart([{ name: 'files', filename: 'keep/me.txt', data: 'kept' }, { name: 'files', filename: 'drop.txt', data: 'dropped' }]));
    expect(readFileSync(join(stored, 'keep', 'me.txt'), 'utf8')).toBe('kept');
    expect(leftovers()).toEqual([]);
  });
});

// ─── Streaming ─────────────────────────────────────────────────────────────────────────────────────────────────

describe('streamUpload', () => {
  it('resolves args at the first file and hands each file over in offset order; an empty file yields one empty chunk', async () => {
    handler = streamingRoute;
    const big = Buffer.alloc(3000, 9);
    const reply = await post(
      multipart([
        { name: '__reflex_event_args', data: '{"batch": 3}' },
        { name: 'files', filename: 'rows/a.csv', contentType: 'text/csv', data: big },
        { name: 'files', filename: 'empty.csv', contentType: 'text/csv', data: '' },
      ]),
      { pieces: [50, 50, 200, 1, 1, 1, 500] },
    );
    expect(reply.status).toBe(202);
    expect(reply.body.args).toEqual({ batch: 3 });
    expect(reply.body.files).toEqual([
      { name: 'rows/a.csv', size: 3000, contentType: 'text/csv', sha: sha(big), chunks: expect.any(Number) },
      { name: 'empty.csv', size: 0, contentType: 'text/csv', sha: sha(''), chunks: 1 },
    ]);
    expect(leftovers()).toEqual([]);
  });

  it('resolves args at the end of a form without files, and ends the chunks', async () => {
    handler = streamingRoute;
    const reply = await post(multipart([{ name: '__reflex_event_args', data: '{"a": 1}' }, { name: 'other', data: 'ignored' }]));
    expect(reply).toEqual({ status: 202, body: { args: { a: 1 }, files: [] } });
  });

  it('pauses the request while the iterator is full (memory stays bounded), and resumes as the handler reads', async () => {
    limits = options({ chunkQueueLength: 2, maxFileBytes: 256_000_000, maxTotalBytes: 256_000_000 });
    let upload: ReturnType<typeof streamUpload> | undefined;
    let bytesReadWhilePaused = 0;
    handler = async (req, res) => {
      upload = streamUpload(req, limits, new AbortController().signal);
      await upload.args;
      await waitFor(() => upload!.chunks.size === 2 && req.readableFlowing === false, 'the request to pause');
      bytesReadWhilePaused = req.socket.bytesRead;
      let size = 0;
      for await (const chunk of upload.chunks) size += chunk.data.length;
      await upload.done;
      answer(res, 202, { size });
    };
    const fileSize = 128_000_000;
    const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="huge.bin"\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/_upload', agent: false, headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, 'Content-Length': head.length + fileSize + tail.length } }, (res) => {
        const data: Buffer[] = [];
        res.on('data', (d: Buffer) => data.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(data).toString()) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.write(head);
      const block = Buffer.alloc(1_000_000, 4);
      let sent = 0;
      const pump = (): void => {
        while (sent < fileSize) {
          sent += block.length;
          if (!req.write(block)) return void req.once('drain', pump);
        }
        req.end(tail);
      };
      pump();
    });
    expect(reply).toEqual({ status: 202, body: { size: fileSize } });
    expect(bytesReadWhilePaused).toBeGreaterThan(0);
    expect(bytesReadWhilePaused).toBeLessThan(fileSize / 4);
  });

  it.each([
    ['a file over maxFileBytes', [{ name: 'files', filename: 'a', data: Buffer.alloc(4097) }], 413, { code: 'upload_too_large', limit: 4096 }],
    ['too many files', Array.from({ length: 6 }, () => ({ name: 'files', filename: 'f', data: 'x' })), 413, { code: 'upload_too_many_files', limit: 5 }],
    ['too many bytes in all', [4000, 4000, 2001].map((n) => ({ name: 'files', filename: 'f', data: Buffer.alloc(n) })), 413, { code: 'upload_too_large', limit: 10_000 }],
    ['args over maxEventArgsBytes', [{ name: '__reflex_event_args', data: JSON.stringify({ s: 'x'.repeat(249) }) }], 413, { code: 'upload_args_too_large', limit: 256 }],
    ['args after a file', [{ name: 'files', filename: 'a', data: 'x' }, { name: '__reflex_event_args', data: '{}' }], 400, { code: 'upload_args_after_files' }],
    ['args with __proto__', [{ name: '__reflex_event_args', data: '{"__proto__": {}}' }], 400, { code: 'upload_bad_args' }],
  ] as [string, Part[], number, Record<string, unknown>][])('%s fails args or the chunks with the structured error', async (_title, parts, status, error) => {
    handler = streamingRoute;
    const reply = await post(multipart(parts));
    expect(reply.status).toBe(status);
    expect(reply.body).toMatchObject(error);
  });

  it('an upload cancelled after its whole body arrived stops the handler loop at its next read', async () => {
    let outcome: unknown;
    let read = 0;
    handler = async (req, res) => {
      const cancel = new AbortController();
      const upload = streamUpload(req, limits, cancel.signal);
      try {
        await upload.done;
        // Every chunk is queued, none read yet: the user cancels now.
        const iterator = upload.chunks[Symbol.asyncIterator]();
        await iterator.next();
        read += 1;
        cancel.abort(new Error('the user cancelled'));
        for (;;) {
          const next = await iterator.next();
          if (next.done) break;
          read += 1;
        }
        outcome = 'finished';
      } catch (error) {
        outcome = error;
      }
      answer(res, 200, {});
    };
    await post(multipart([{ name: 'files', filename: 'a.bin', data: Buffer.alloc(3000, 7) }]));
    await waitFor(() => outcome !== undefined, 'the handler loop to end');
    expect(outcome).toBeInstanceOf(UploadAbortedError);
    expect(read).toBe(1);
  });

  it('a request whose client left before parsing began rejects args and done with UploadAbortedError instead of hanging', async () => {
    let outcome: unknown[] | undefined;
    handler = async (req) => {
      await waitFor(() => req.destroyed, 'the server to see the client leave');
      const upload = streamUpload(req, limits, new AbortController().signal);
      outcome = await Promise.all([upload.args.catch((error: unknown) => error), upload.done.catch((error: unknown) => error)]);
    };
    const req = partOfAFile(() => req.destroy());
    await waitFor(() => outcome !== undefined, 'the parser to give up');
    expect(outcome![0]).toBeInstanceOf(UploadAbortedError);
    expect(outcome![1]).toBeInstanceOf(UploadAbortedError);
  });

  it('a client that disconnects mid-file throws UploadAbortedError into the handler loop', async () => {
    const loop = streamingLoop((done) => expect(done).rejects.toBeInstanceOf(UploadAbortedError));
    const req = partOfAFile();
    await waitFor(() => loop.received() > 0, 'the first chunk');
    req.destroy();
    await waitFor(() => loop.outcome() !== undefined, 'the handler loop to end');
    expect(loop.outcome()).toBeInstanceOf(UploadAbortedError);
  });

  it('a client that stops sending mid-file throws 408 upload_idle_timeout into the handler loop', async () => {
    limits = options({ idleTimeoutMs: 200 });
    const loop = streamingLoop((done) => expect(done).rejects.toMatchObject({ code: 'upload_idle_timeout' }));
    const req = partOfAFile();
    try {
      await waitFor(() => loop.outcome() !== undefined, 'the handler loop to end');
      expect(loop.received()).toBeGreaterThan(0);
      expect(loop.outcome()).toMatchObject({ status: 408, code: 'upload_idle_timeout' });
    } finally {
      req.destroy();
    }
  });

  it('does not time out a client whose request is paused because the handler is behind', async () => {
    limits = options({ idleTimeoutMs: 100, chunkQueueLength: 1, maxFileBytes: 64_000_000, maxTotalBytes: 64_000_000 });
    handler = async (req, res) => {
      const upload = streamUpload(req, limits, new AbortController().signal);
      await upload.args;
      // The handler does not read for several idle timeouts while the request waits for it (our silence, not the client's).
      await waitFor(() => upload.chunks.size === 1 && req.readableFlowing === false, 'the request to pause');
      const pausedAt = Date.now();
      await waitFor(() => Date.now() - pausedAt > 5 * limits.idleTimeoutMs, 'several idle timeouts to pass while paused');
      expect(upload.failure).toBeUndefined();
      let size = 0;
      for await (const chunk of upload.chunks) size += chunk.data.length;
      await upload.done;
      answer(res, 202, { size });
    };
    const reply = await post(multipart([{ name: 'files', filename: 'big.bin', data: Buffer.alloc(8_000_000, 5) }]));
    expect(reply).toEqual({ status: 202, body: { size: 8_000_000 } });
  });

  it('a handler that leaves its loop early lets the rest of the request drain, and done resolves', async () => {
    let first: UploadChunk | undefined;
    handler = async (req, res) => {
      const upload = streamUpload(req, limits, new AbortController().signal);
      await upload.args;
      for await (const chunk of upload.chunks) {
        first = chunk;
        break;
      }
      await upload.done;
      answer(res, 202, {});
    };
    const reply = await post(multipart([1, 2, 3].map((n) => ({ name: 'files', filename: `f${n}`, data: Buffer.alloc(3000, n) }))), { pieces: [100, 100, 100] });
    expect(reply.status).toBe(202);
    expect(first?.filename).toBe('f1');
  });
});

// ─── Property: random forms, random pieces, both modes agree with a model of the limits ─────────────────────

interface FormCase {
  argsAt: number | undefined;
  argsBytes: number;
  files: { name: string; size: number }[];
  pieces: number[];
  limits: { maxFileBytes: number; maxFiles: number; maxTotalBytes: number; maxEventArgsBytes: number; chunkQueueLength: number };
}

const formCase: fc.Arbitrary<FormCase> = fc
  .record({
    files: fc.array(fc.record({ name: fc.constantFrom('a.bin', 'dir/b.txt', '../c', 'C:\\d.dat', 'é/ü.txt'), size: fc.integer({ min: 0, max: 3000 }) }), { maxLength: 5 }),
    argsAt: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    argsBytes: fc.integer({ min: 8, max: 300 }),
    pieces: fc.array(fc.integer({ min: 1, max: 2000 }), { maxLength: 6 }),
    limits: fc.record({
      maxFileBytes: fc.integer({ min: 1, max: 3500 }),
      maxFiles: fc.integer({ min: 1, max: 6 }),
      maxTotalBytes: fc.integer({ min: 1, max: 10_000 }),
      maxEventArgsBytes: fc.integer({ min: 2, max: 300 }),
      chunkQueueLength: fc.integer({ min: 1, max: 4 }),
    }),
  })
  .map((value) => ({ ...value, argsAt: value.argsAt === undefined ? undefined : Math.min(value.argsAt, value.files.length) }));

function cleaned(name: string): string {
  return { '../c': 'c', 'C:\\d.dat': 'd.dat' }[name] ?? name;
}

type Outcome = { status: number; code?: string; limit?: number };

/**
 * The answers the parser may give for a form: the first rule the parts break, in the order sent. The total size is
 * counted as the bytes are read, after busboy has parsed them, so when the first break is a byte limit any rule broken
 * later in the same request may be noticed first.
 */
function expectedOutcomes(form: FormCase): Outcome[] {
  const breaks: Outcome[][] = [];
  let total = 0;
  let count = 0;
  for (let i = 0; i <= form.files.length; i++) {
    if (form.argsAt === i) {
      if (i > 0) breaks.push([{ status: 400, code: 'upload_args_after_files' }]);
      else if (form.argsBytes > form.limits.maxEventArgsBytes) breaks.push([{ status: 413, code: 'upload_args_too_large', limit: form.limits.maxEventArgsBytes }]);
    }
    const file = form.files[i];
    if (!file) break;
    count += 1;
    if (count > form.limits.maxFiles) {
      breaks.push([{ status: 413, code: 'upload_too_many_files', limit: form.limits.maxFiles }]);
      continue;
    }
    const before = total;
    total += Math.min(file.size, form.limits.maxFileBytes + 1);
    const overFile = file.size > form.limits.maxFileBytes;
    const overTotal = total > form.limits.maxTotalBytes && before <= form.limits.maxTotalBytes;
    if (overFile || overTotal) {
      breaks.push([
        ...(overFile ? [{ status: 413, code: 'upload_too_large', limit: form.limits.maxFileBytes }] : []),
        ...(overTotal ? [{ status: 413, code: 'upload_too_large', limit: form.limits.maxTotalBytes }] : []),
      ]);
    }
  }
  if (breaks.length === 0) return [{ status: 200 }];
  return breaks[0]!.some((outcome) => outcome.code === 'upload_too_large') ? breaks.flat() : breaks[0]!;
}

function formBody(form: FormCase): { parts: Part[]; args: Record<string, unknown> } {
  const args = { s: 'x'.repeat(form.argsBytes - 8) };
  const parts: Part[] = form.files.map((file, index) => ({ name: 'files', filename: file.name, contentType: 'application/x-test', data: Buffer.alloc(file.size, index + 1) }));
  if (form.argsAt !== undefined) parts.splice(form.argsAt, 0, { name: '__reflex_event_args', data: JSON.stringify(args) });
  return { parts, args: form.argsAt === 0 && form.argsBytes <= form.limits.maxEventArgsBytes ? args : {} };
}

describe('both modes on random forms (property)', () => {
  for (const mode of ['buffered', 'streaming'] as const) {
    it(`${mode}: answers what the limits say, delivers the files intact, and leaves no temp file`, async () => {
      await fc.assert(
        fc.asyncProperty(formCase, async (form) => {
          limits = options(form.limits);
          handler = mode === 'buffered' ? bufferedRoute() : streamingRoute;
          const { parts, args } = formBody(form);
          const reply = await post(multipart(parts), { pieces: form.pieces });
          const outcomes = expectedOutcomes(form);
          if (outcomes[0]!.status === 200) {
            expect(reply.status).toBe(mode === 'buffered' ? 200 : 202);
            expect(reply.body.args).toEqual(form.argsAt === 0 ? args : {});
            const files = (reply.body.files as { name: string; size: number; sha: string }[]).map(({ name, size, sha: digest }) => ({ name, size, sha: digest }));
            const sent = form.files.map((file, index) => ({ name: cleaned(file.name), size: file.size, sha: sha(Buffer.alloc(file.size, index + 1)) }));
            expect(files).toEqual(sent);
          } else {
            expect(outcomes).toContainEqual({ status: reply.status, code: reply.body.code, ...(reply.body.limit === undefined ? {} : { limit: reply.body.limit }) });
          }
          expect(leftovers()).toEqual([]);
          // Every byte a buffered upload took from the worker's temp disk budget came back, whatever the outcome.
          expect(budget.heldBytes).toBe(0);
        }),
        { numRuns: 60 },
      );
    });
  }
});

describe('maxUploadBodyBytes', () => {
  const limitsOf = (overrides: Partial<ResolvedUploadOptions>): ResolvedUploadOptions => ({ ...options(), ...overrides });

  it('counts the files a form can carry, not more: maxFiles × maxFileBytes when that is below maxTotalBytes', () => {
    // The shop's limits: one image of 2 MiB, maxTotalBytes left at its 1 GiB default.
    const bound = maxUploadBodyBytes(limitsOf({ maxFiles: 1, maxFileBytes: 2 * 1024 * 1024, maxTotalBytes: 1024 ** 3, maxEventArgsBytes: 1024 }), 70);
    expect(bound).toBeLessThan(4 * 1024 * 1024);
  });

  it('is never less than the body of a form within the limits (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          maxFiles: fc.integer({ min: 1, max: 4 }),
          maxFileBytes: fc.integer({ min: 0, max: 3000 }),
          maxTotalBytes: fc.integer({ min: 0, max: 6000 }),
          maxEventArgsBytes: fc.integer({ min: 0, max: 300 }),
          boundary: fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,70}$/),
          headerPad: fc.integer({ min: 0, max: 15_000 }),
          fields: fc.integer({ min: 0, max: 32 }),
        }),
        ({ boundary, headerPad, fields, ...given }) => {
          const limits = limitsOf(given);
          // As many files as fit both file limits, the total shared out; text fields at their largest.
          const files = Array.from({ length: limits.maxFiles }, (_, i) => Buffer.alloc(Math.max(0, Math.min(limits.maxFileBytes, limits.maxTotalBytes - i * limits.maxFileBytes))));
          const parts: Part[] = [
            ...Array.from({ length: fields }, (_, i) => ({ name: `f${i}`, contentType: `text/plain; x=${'p'.repeat(headerPad)}`, data: 'v'.repeat(limits.maxEventArgsBytes) })),
            ...files.map((data, i) => ({ name: 'files', filename: `${i}.bin`, contentType: `application/x-${'p'.repeat(headerPad)}`, data })),
          ];
          const contentType = `multipart/form-data; boundary=${boundary}`;
          expect(multipart(parts, boundary).length).toBeLessThanOrEqual(maxUploadBodyBytes(limits, contentType.length));
        },
      ),
    );
  });
});

// ─── A file part whose name busboy cannot read is refused, never dropped ────────────────────────────────────────

describe('file parts without a readable file name (property)', () => {
  /**
   * busboy takes a part without a usable `filename` (none, or `filename=""` as a browser sends a File with an empty
   * name) for a text field unless its type is `application/octet-stream`: the file was dropped, and the handler ran
   * with the others, answered 200, as if the user had not sent it.
   */
  const nameless = fc.record({
    disposition: fc.constantFrom('', 'filename=""'),
    contentType: fc.constantFrom(undefined, 'text/plain', 'image/png', 'text/csv; charset=utf-8'),
    size: fc.integer({ min: 0, max: 2000 }),
  });
  for (const mode of ['buffered', 'streaming'] as const) {
    it(`${mode}: answers 400 upload_bad_filename wherever the part is in the form, and leaves no temp file`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 1500 }), { maxLength: 3 }),
          nameless,
          fc.nat(),
          async (sizes, part, at) => {
            limits = options();
            handler = mode === 'buffered' ? bufferedRoute() : streamingRoute;
            const parts: Part[] = sizes.map((size, index) => ({ name: 'files', filename: `f${index}.bin`, contentType: 'application/x-test', data: Buffer.alloc(size, index + 1) }));
            parts.splice(at % (parts.length + 1), 0, { name: 'files', dispositionExtra: part.disposition, contentType: part.contentType, data: Buffer.alloc(part.size, 9) });
            const reply = await post(multipart(parts));
            expect(reply).toMatchObject({ status: 400, body: { code: 'upload_bad_filename' } });
            expect(leftovers()).toEqual([]);
            expect(budget.heldBytes).toBe(0);
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

// ─── __reflex_event_args are checked like an event's payload ────────────────────────────────────────────────────

describe('__reflex_event_args within the bounds of an event payload (property)', () => {
  /** `depth` levels of objects and arrays, alternating, around a number. */
  const nested = (depth: number): unknown => (depth === 0 ? 0 : depth % 2 === 1 ? [nested(depth - 1)] : { b: nested(depth - 1) });
  const eventAccepts = (args: Record<string, unknown>): boolean => {
    try {
      parseInboundEvent({ name: 'upload', payload: args });
      return true;
    } catch {
      return false;
    }
  };
  const form = (args: Record<string, unknown>): Buffer =>
    multipart([
      { name: '__reflex_event_args', data: JSON.stringify(args) },
      { name: 'files', filename: 'a.bin', data: 'x' },
    ]);

  for (const mode of ['buffered', 'streaming'] as const) {
    it(`${mode}: refuses (400 upload_bad_args) exactly the nesting an event's payload may not have`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 80 }), async (depth) => {
          limits = options({ maxEventArgsBytes: 1024 * 1024 });
          handler = mode === 'buffered' ? bufferedRoute() : streamingRoute;
          const args = { a: nested(depth) };
          const reply = await post(form(args));
          // Before: any depth the JSON reviver survived (about 2,000 levels) reached the handler's validators.
          if (eventAccepts(args)) expect(reply.status).toBe(mode === 'buffered' ? 200 : 202);
          else expect(reply).toMatchObject({ status: 400, body: { code: 'upload_bad_args' } });
        }),
        { numRuns: 40 },
      );
    });
  }

  it('refuses unparsed what costs V8 far more to parse than its size says: objects and arrays, distinct key names, values', async () => {
    limits = options({ maxEventArgsBytes: 20_000 });
    // One object or array per 20 bytes of maxEventArgsBytes (1,000), one key name per 100 (200), as for event frames.
    for (const [args, shape] of [
      [{ a: new Array(1_001).fill({}) }, 'more than 1000 objects and arrays'],
      [{ a: Array.from({ length: 200 }, (_, index) => ({ [`k${index}`]: 0 })) }, 'more than 200 different key names'],
    ] as const) {
      for (const route of [bufferedRoute(), streamingRoute]) {
        handler = route;
        expect(await post(form(args))).toMatchObject({ status: 400, body: { code: 'upload_bad_args', detail: `__reflex_event_args is refused unparsed: it has ${shape}.` } });
      }
    }
    // Within them: as many objects, the same few names.
    handler = bufferedRoute();
    expect((await post(form({ a: Array.from({ length: 900 }, (_, index) => ({ [`k${index % 10}`]: 0 })) }))).status).toBe(200);
    limits = options({ maxEventArgsBytes: 1024 * 1024 });
    const tooMany = { a: new Array<number>(MAX_EVENT_VALUES + 5_000).fill(0) };
    expect(await post(form(tooMany))).toMatchObject({ status: 400, body: { code: 'upload_bad_args', detail: expect.stringContaining('refused unparsed') } });
  });

  it('refuses more values than an event may carry, within maxEventArgsBytes', async () => {
    limits = options({ maxEventArgsBytes: 1024 * 1024 });
    handler = bufferedRoute();
    const args = { a: new Array<number>(MAX_EVENT_VALUES + 1).fill(0) };
    expect(eventAccepts(args)).toBe(false);
    expect(await post(form(args))).toMatchObject({ status: 400, body: { code: 'upload_bad_args' } });
  });
});

describe('text fields charged before they are looked into (uploads.eventArgsPerAddress)', () => {
  for (const mode of ['buffered', 'streaming'] as const) {
    it(`${mode}: charges every text field by its characters as read, and a refused charge fails the upload before the arguments are scanned`, async () => {
      const charged: number[] = [];
      let refuseFrom = Infinity;
      handler = async (req, res) => {
        const charge = (characters: number): Error | undefined => {
          charged.push(characters);
          return charged.length >= refuseFrom ? new UploadError(429, 'rate_limited', 'spent') : undefined;
        };
        try {
          if (mode === 'buffered') {
            const upload = await parseBufferedUpload(req, limits, new AbortController().signal, budget, charge);
            await upload.dispose();
            answer(res, 200, { args: upload.args });
          } else {
            const upload = streamUpload(req, limits, new AbortController().signal, charge);
            const args = await upload.args;
            for await (const chunk of upload.chunks) void chunk;
            await upload.done;
            answer(res, 202, { args });
          }
        } catch (error) {
          answerError(res, error);
        }
      };
      const form = (args: string) =>
        multipart([
          { name: 'note', data: 'n'.repeat(40) },
          { name: '__reflex_event_args', data: args },
          { name: 'files', filename: 'a.bin', data: 'x' },
        ]);
      expect(await post(form('{"a":1}'))).toMatchObject({ status: mode === 'buffered' ? 200 : 202, body: { args: { a: 1 } } });
      // The ignored field and the arguments, each by its length; the file part is no text field.
      expect(charged).toEqual([40, 7]);
      // Refused at the arguments: answered with the charge's refusal, not the 400 their scan would give.
      charged.length = 0;
      refuseFrom = 2;
      expect(await post(form('{"a":'))).toMatchObject({ status: 429, body: { code: 'rate_limited' } });
      expect(charged).toEqual([40, 5]);
      expect(leftovers()).toEqual([]);
    });
  }
});

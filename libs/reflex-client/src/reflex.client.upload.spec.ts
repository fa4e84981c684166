import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { transformSync } from '@swc/core';
import busboy from 'busboy';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT_STATE_NAME } from './protocol.constants.js';
import { ReflexClient } from './reflex.client.js';
import type { StateUpdate } from './state-update.types.js';
import { UploadRequestError } from './upload-request.error.js';
import type { UploadProgress } from './upload.types.js';

const CATALOG = `${ROOT_STATE_NAME}.catalog_state`;
const IMPORTS = `${ROOT_STATE_NAME}.import_state`;
const TOKEN = '0b5c9d7e-1f2a-4b3c-8d4e-5f6a7b8c9d0e';
const DEADLINE_MS = 20_000;

// Conditions are polled with generous deadlines; the test timeout must outlast them on a loaded machine.
jest.setTimeout(60_000);

/** Polls until `predicate` holds (no fixed sleeps: the machine may be slow). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise with its resolver, for the test to release the server at the right moment. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** What the test server took from one upload request. */
interface ReceivedUpload {
  url: string;
  headers: IncomingMessage['headers'];
  /** Form parts in arrival order: `field:<name>=<value>` or `file:<filename>:<type>:<bytes>:<sha256>`. */
  parts: string[];
  bodyBytes: number;
  complete: boolean;
  aborted: boolean;
}

/** Waits until `res` can take more, or is closed; the other listener goes (one answer waits thousands of times). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

function line(update: unknown): string {
  return `${JSON.stringify(update)}\n`;
}

function delta(state: string, vars: Record<string, unknown>, final = false): unknown {
  const marked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(vars)) marked[`${key}_rx_state_`] = value;
  return { delta: { [state]: marked }, events: [], final };
}

/**
 * A server speaking the upload wire: `POST <prefix>/_upload` with the token and handler headers, a multipart form
 * parsed by busboy, NDJSON `200` answers for buffered handlers, `202 {}` for streaming ones, and structured errors.
 */
class UploadTestServer {
  readonly received: ReceivedUpload[] = [];
  /** Lets the test hold the NDJSON answer of `attach_image` between its two halves. */
  splitGate = gate();
  /** Bytes of the body after which `slow_import` stops reading until `resumeGate` opens. */
  pauseAfter = Infinity;
  resumeGate = gate();
  /** Serves anything but uploads (the browser spec's page and modules); returns false to fall through. */
  serveOther: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  /** Characters of the `endless` answer written so far. */
  answerChars = 0;
  /** The client closed the connection of the `endless` answer before the server stopped writing it. */
  answerClosed = false;
  private http!: Server;
  origin = '';

  async start(): Promise<void> {
    this.http = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, code: string, detail: string, limit?: number): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ detail, code, ...(limit === undefined ? {} : { limit }) }));
    // Read the rest of the body, as a polite server does, so the client sees the answer rather than a reset.
    req.resume();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET') {
      if (this.serveOther?.(req, res)) return;
      res.writeHead(404).end();
      return;
    }
    res.socket?.setNoDelay(true);
    const record: ReceivedUpload = { url: req.url ?? '', headers: req.headers, parts: [], bodyBytes: 0, complete: false, aborted: false };
    this.received.push(record);
    req.on('aborted', () => (record.aborted = true));
    req.on('close', () => {
      if (!record.complete) record.aborted = true;
    });
    if (req.method !== 'POST' || !/^(\/api)?\/_upload$/.test(record.url)) return this.refuse(req, res, 404, 'not_found', 'Not Found');
    const token = req.headers['reflex-client-token'];
    const handler = req.headers['reflex-event-handler'];
    if (!token || !handler) {
      return this.refuse(req, res, 400, 'upload_headers_missing', 'Missing reflex-client-token or reflex-event-handler header.');
    }
    if (!String(req.headers['content-type']).startsWith('multipart/form-data')) {
      return this.refuse(req, res, 415, 'upload_not_multipart', 'Expected multipart/form-data.');
    }
    if (token !== TOKEN) return this.refuse(req, res, 409, 'unknown_token', 'Unknown client token.');
    if (handler === `${CATALOG}.too_large`) return this.refuse(req, res, 413, 'upload_too_large', 'A file is larger than 1024 bytes.', 1024);
    if (handler === `${CATALOG}.bad_form`) return this.refuse(req, res, 400, 'upload_bad_form', 'The form is malformed.');
    if (handler === `${CATALOG}.forbidden`) return this.refuse(req, res, 403, 'forbidden', 'Not allowed.');
    if (handler === `${CATALOG}.busy`) {
      res.setHeader('Retry-After', '7');
      return this.refuse(req, res, 503, 'uploads_busy', 'Too many uploads in progress.', 64);
    }
    if (handler === `${CATALOG}.plain_error`) {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>Bad Gateway</h1>');
      return;
    }
    const known = [`${CATALOG}.attach_image`, `${CATALOG}.endless`, `${CATALOG}.echo`, `${CATALOG}.garbage`, `${CATALOG}.drop`, `${CATALOG}.deep`, `${CATALOG}.chatty`, `${IMPORTS}.import_rows`, `${IMPORTS}.slow_import`];
    if (!known.includes(String(handler))) return this.refuse(req, res, 404, 'upload_not_accepted', `No upload handler ${String(handler)}.`);

    const slow = handler === `${IMPORTS}.slow_import`;
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length;
      if (slow && record.bodyBytes >= this.pauseAfter && !req.isPaused()) {
        req.pause();
        void this.resumeGate.promise.then(() => req.resume());
      }
    });
    const form = busboy({ headers: req.headers, defParamCharset: 'utf8', preservePath: true });
    const files: Array<Promise<void>> = [];
    form.on('field', (name, value) => record.parts.push(`field:${name}=${value}`));
    form.on('file', (name, stream, info) => {
      const hash = createHash('sha256');
      let bytes = 0;
      const at = record.parts.push('') - 1;
      files.push(
        new Promise<void>((resolve) => {
          stream.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            hash.update(chunk);
          });
          stream.on('end', () => {
            record.parts[at] = `file:${name}:${info.filename}:${info.mimeType}:${bytes}:${hash.digest('hex')}`;
            resolve();
          });
        }),
      );
    });
    const finished = new Promise<void>((resolve, reject) => {
      form.on('close', resolve);
      form.on('error', reject);
    });
    req.pipe(form);
    try {
      await finished;
      await Promise.all(files);
    } catch {
      return;
    }
    record.complete = true;
    await this.answer(String(handler), res);
  }

  private async answer(handler: string, res: ServerResponse): Promise<void> {
    if (handler.startsWith(`${IMPORTS}.`)) {
      res.writeHead(202, { 'content-type': 'application/x-ndjson' });
      res.end('{}\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    if (handler === `${CATALOG}.garbage`) {
      res.end(`${line(delta(CATALOG, { step: 1 }))}not json\n`);
      return;
    }
    if (handler === `${CATALOG}.deep`) {
      // A line nested 100,000 deep (past frameLimits.maxDepth), then an ordinary one.
      res.end(`{"delta":{"${CATALOG}":{"deep_rx_state_":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}\n${line(delta(CATALOG, { step: 3 }))}`);
      return;
    }
    if (handler === `${CATALOG}.chatty`) {
      // 200 lines, each asking the client to send one backend event back (the socket is not connected here).
      for (let step = 1; step <= 200; step++) res.write(line({ ...(delta(CATALOG, { step }) as object), events: [{ name: `${CATALOG}.follow`, payload: { step } }] }));
      res.end();
      return;
    }
    if (handler === `${CATALOG}.endless`) {
      // An answer that does not end (a broken or hostile server), line after line as fast as the client reads; the
      // test server stops on its own after 256 MiB, or when the client closes the connection.
      const text = line(delta(CATALOG, { step: 1, filler: 'x'.repeat(1000) }));
      let sent = 0;
      while (!res.destroyed && sent < 256 * 1024 * 1024) {
        sent += text.length;
        this.answerChars = sent;
        if (!res.write(text)) await drainedOrClosed(res);
      }
      this.answerClosed = res.destroyed;
      res.end();
      return;
    }
    if (handler === `${CATALOG}.drop`) {
      res.write(line(delta(CATALOG, { step: 1 })));
      res.socket?.destroy();
      return;
    }
    if (handler === `${CATALOG}.echo`) {
      res.end(line(delta(CATALOG, { parts: this.received.at(-1)!.parts }, true)));
      return;
    }
    // attach_image: the second line is cut in the middle of a multi-byte character, and held until the test says.
    const second = Buffer.from(line(delta(CATALOG, { step: 2, caption: 'café 🐱 ok' })));
    const cutAt = second.indexOf(Buffer.from('🐱')) + 2;
    res.write(Buffer.concat([Buffer.from(line(delta(CATALOG, { step: 1 }))), second.subarray(0, cutAt)]));
    await this.splitGate.promise;
    res.write(second.subarray(cutAt));
    res.end(line({ delta: {}, events: [{ name: '_call_function', payload: { function: 'noop' } }], final: true }));
  }
}

describe('ReflexClient.upload (Node, against a real HTTP server)', () => {
  let server: UploadTestServer;
  let client: ReflexClient;

  beforeEach(async () => {
    server = new UploadTestServer();
    await server.start();
    client = new ReflexClient({ url: server.origin, token: TOKEN, storage: null });
  });

  afterEach(async () => {
    client.disconnect();
    await server.stop();
  });

  it('posts to the prefix of the event path, as the socket URL is derived', () => {
    expect(client.uploadUrl).toBe(`${server.origin}/_upload`);
    const prefixed = new ReflexClient({ url: server.origin.replace('http:', 'ws:') + '/', path: '/api/_event', token: TOKEN, storage: null });
    expect(prefixed.uploadUrl).toBe(`${server.origin}/api/_upload`);
    expect(new ReflexClient({ url: server.origin, uploadUrl: '/files/up', storage: null }).uploadUrl).toBe(`${server.origin}/files/up`);
  });

  it('applies each NDJSON line as it arrives, in order, a line split across TCP chunks included, and reports progress to 100%', async () => {
    const seen: StateUpdate[] = [];
    client.onEvent((update) => seen.push(update));
    const clientEvents: string[] = [];
    client.onClientEvent((event) => clientEvents.push(event.name));
    const steps: unknown[] = [];
    client.subscribe(CATALOG, (vars) => steps.push(vars['step']));
    const progress: UploadProgress[] = [];
    const image = Buffer.alloc(300_000, 7);

    const done = client.upload(CATALOG, 'attach_image', [{ name: 'photos/cat.png', data: image, contentType: 'image/png' }], {
      extraArgs: { productId: 42 },
      onProgress: (p) => progress.push(p),
    });
    // The first line is applied while the answer is still open; the half line is not.
    await until(() => client.state(CATALOG)?.['step'] === 1, 'the first line to be applied');
    expect(client.state(CATALOG)).toEqual({ step: 1 });
    server.splitGate.open();
    const result = await done;

    expect(result.status).toBe(200);
    expect(result.mode).toBe('buffered');
    expect(result.updates).toHaveLength(3);
    expect(client.state(CATALOG)).toEqual({ step: 2, caption: 'café 🐱 ok' });
    expect(steps).toEqual([1, 2]);
    expect(seen).toEqual(result.updates);
    expect(clientEvents).toEqual(['_call_function']);

    const received = server.received[0]!;
    expect(received.url).toBe('/_upload');
    expect(received.headers['reflex-client-token']).toBe(TOKEN);
    expect(received.headers['reflex-event-handler']).toBe(`${CATALOG}.attach_image`);
    const sha = createHash('sha256').update(image).digest('hex');
    expect(received.parts).toEqual(['field:__reflex_event_args={"productId":42}', `file:files:photos/cat.png:image/png:300000:${sha}`]);

    const total = Number(received.headers['content-length']);
    expect(total).toBe(received.bodyBytes);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual({ loaded: total, total, progress: 1 });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThan(progress[i - 1]!.loaded);
    expect(progress.every((p) => p.total === total && p.progress! > 0 && p.progress! <= 1)).toBe(true);
  });

  it('sends Blobs, Files, bytes and Readables of unknown size, with browser-style file names', async () => {
    const rows = Readable.from(['a,b\n', Buffer.from('1,2\n')]);
    const result = await client.upload(CATALOG, 'echo', [
      new File(['hello'], 'notes/"quoted".txt', { type: 'text/plain' }),
      new Blob([new Uint8Array([1, 2, 3])]),
      { name: 'rows.csv', data: rows },
      { name: 'empty.bin', data: new Uint8Array(0) },
    ]);
    const sha = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
    expect(client.state(CATALOG)?.['parts']).toEqual([
      `file:files:notes/%22quoted%22.txt:text/plain:5:${sha('hello')}`,
      `file:files:blob:application/octet-stream:3:${sha(new Uint8Array([1, 2, 3]))}`,
      `file:files:rows.csv:application/octet-stream:8:${sha('a,b\n1,2\n')}`,
      `file:files:empty.bin:application/octet-stream:0:${sha('')}`,
    ]);
    expect(result.updates).toHaveLength(1);
    // A Readable without a size: chunked, no Content-Length.
    expect(server.received[0]!.headers['content-length']).toBeUndefined();
    expect(server.received[0]!.headers['transfer-encoding']).toBe('chunked');
  });

  it('in Node, sends the headers the socket sends (cookie, origin) with the upload', async () => {
    const withCookie = new ReflexClient({
      url: server.origin,
      token: TOKEN,
      storage: null,
      socketOptions: { extraHeaders: { Cookie: 'connect.sid=abc', Origin: 'http://shop.test', 'Reflex-Event-Handler': 'spoofed' } },
    });
    await withCookie.upload(CATALOG, 'echo', [{ name: 'a.txt', data: Buffer.from('a') }]);
    const headers = server.received[0]!.headers;
    expect(headers['cookie']).toBe('connect.sid=abc');
    expect(headers['origin']).toBe('http://shop.test');
    expect(headers['reflex-event-handler']).toBe(`${CATALOG}.echo`);
  });

  it('resolves a streaming-mode upload with 202 once the whole body was consumed, applying nothing', async () => {
    const updates: StateUpdate[] = [];
    client.onEvent((update) => updates.push(update));
    const progress: UploadProgress[] = [];
    const result = await client.upload(IMPORTS, 'import_rows', [{ name: 'rows.csv', data: Buffer.alloc(200_000, 65), size: 200_000 }], {
      onProgress: (p) => progress.push(p),
    });
    expect(result).toEqual({ status: 202, mode: 'streaming', updates: [], droppedUpdates: 0 });
    expect(updates).toEqual([]);
    expect(server.received[0]!.complete).toBe(true);
    expect(progress.at(-1)?.progress).toBe(1);
  });

  it.each([
    ['a bad form', 400, 'upload_bad_form', undefined],
    ['a limit', 413, 'upload_too_large', 1024],
    ['an unknown handler', 404, 'upload_not_accepted', undefined],
    ['a refused origin', 403, 'forbidden', undefined],
    ['an unknown token', 409, 'unknown_token', undefined],
  ])('rejects %s with a structured UploadRequestError', async (_, status, code, limit) => {
    let target = client;
    let handler = 'attach_image';
    if (code === 'upload_bad_form') handler = 'bad_form';
    if (code === 'upload_too_large') handler = 'too_large';
    if (code === 'upload_not_accepted') handler = 'not_an_upload_handler';
    if (code === 'forbidden') handler = 'forbidden';
    if (code === 'unknown_token') target = new ReflexClient({ url: server.origin, storage: null });
    // A body far larger than the socket buffers: the refusal arrives before it is sent, and still wins.
    const error = await target.upload(CATALOG, handler, [{ name: 'big.bin', data: Buffer.alloc(8 * 1024 * 1024) }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadRequestError);
    expect(error).toMatchObject({ status, code, limit });
    expect((error as UploadRequestError).detail.length).toBeGreaterThan(0);
    expect(client.state(CATALOG)).toBeUndefined();
  });

  it('stops sending the body once a refusal arrived', async () => {
    const total = 1024 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    await expect(client.upload(CATALOG, 'too_large', [{ name: 'huge.bin', data: source, size: total }])).rejects.toMatchObject({
      status: 413,
      code: 'upload_too_large',
    });
    expect(produced).toBeLessThan(total / 4);
    expect(source.destroyed).toBe(true);
  });

  it("gives a refusal's Retry-After as retryAfterMs", async () => {
    const error = await client.upload(CATALOG, 'busy', []).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UploadRequestError', status: 503, code: 'uploads_busy', limit: 64, retryAfterMs: 7000 });
    const other = await client.upload(CATALOG, 'forbidden', []).catch((e: unknown) => e);
    expect(other).toMatchObject({ status: 403, retryAfterMs: undefined });
  });

  it('names an error without a structured body after its status', async () => {
    const error = await client.upload(CATALOG, 'plain_error', []).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UploadRequestError', status: 502, code: 'http_502', detail: '<h1>Bad Gateway</h1>' });
  });

  it('refuses an answer line that is not JSON, and a connection dropped mid-answer', async () => {
    await expect(client.upload(CATALOG, 'garbage', [])).rejects.toMatchObject({ status: 0, code: 'invalid_response' });
    expect(client.state(CATALOG)).toEqual({ step: 1 });
    await expect(client.upload(CATALOG, 'drop', [])).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });

  it('leaves an answer line past the frame limits out of the result, as it is left out of the state, and reports it', async () => {
    const kinds: string[] = [];
    client.onConnectionError((error) => kinds.push(error.kind));
    const result = await client.upload(CATALOG, 'deep', []);
    expect(result.updates).toEqual([delta(CATALOG, { step: 3 })]);
    expect(client.state(CATALOG)).toEqual({ step: 3 });
    expect(kinds).toEqual(['frame_too_large']);
  });

  it('keeps the last maxUploadUpdates updates of a long answer, counts the others, and bounds the events it asks to send offline', async () => {
    const bounded = new ReflexClient({ url: server.origin, token: TOKEN, storage: null, maxUploadUpdates: 20, maxQueuedEvents: 50 });
    const errors: string[] = [];
    bounded.onConnectionError((error) => errors.push(error.kind));
    const result = await bounded.upload(CATALOG, 'chatty', []);
    // Every line was applied; before, all 200 were also kept in the result, and all 200 follow-up events queued.
    expect(bounded.state(CATALOG)).toEqual({ step: 200 });
    expect(result.updates).toHaveLength(20);
    expect(result.updates[0]).toMatchObject({ delta: { [CATALOG]: { step_rx_state_: 181 } } });
    expect(result.updates.at(-1)).toMatchObject({ delta: { [CATALOG]: { step_rx_state_: 200 } } });
    expect(result.droppedUpdates).toBe(180);
    expect(bounded.queued).toBe(50);
    expect(bounded.droppedEvents).toBe(150);
    expect(errors).toEqual(['queue_full']);
    // An answer within the bound drops nothing.
    expect((await client.upload(CATALOG, 'echo', [])).droppedUpdates).toBe(0);
  });

  it('fails an answer longer than maxUploadAnswerChars (an answer that never ends) and closes its connection', async () => {
    const bounded = new ReflexClient({ url: server.origin, token: TOKEN, storage: null, maxUploadAnswerChars: 1024 * 1024 });
    const failure = await bounded.upload(CATALOG, 'endless', []).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(UploadRequestError);
    expect(failure).toMatchObject({ status: 0, code: 'answer_too_large', limit: 1024 * 1024 });
    await until(() => server.answerClosed, 'the server to see the connection closed');
    expect(bounded.state(CATALOG)).toMatchObject({ step: 1 });
  });

  it('aborts mid-upload through the signal: the request is dropped and the promise rejects', async () => {
    const source = new PassThrough();
    const controller = new AbortController();
    const progress: UploadProgress[] = [];
    const upload = client.upload(IMPORTS, 'import_rows', [{ name: 'rows.csv', data: source }], {
      signal: controller.signal,
      onProgress: (p) => progress.push(p),
    });
    source.write(Buffer.alloc(100_000, 1));
    await until(() => (server.received[0]?.bodyBytes ?? 0) >= 100_000, 'the first bytes to reach the server');
    controller.abort(new Error('user cancelled'));
    const error = (await upload.catch((e: unknown) => e)) as UploadRequestError;
    expect(error).toBeInstanceOf(UploadRequestError);
    expect(error.code).toBe('aborted');
    expect((error.cause as Error).message).toBe('user cancelled');
    expect(source.destroyed).toBe(true);
    await until(() => server.received[0]!.aborted, 'the server to see the request end');
    expect(server.received[0]!.complete).toBe(false);
    expect(progress.every((p) => p.progress !== 1)).toBe(true);
  });

  it('rejects at once when the signal was already aborted', async () => {
    await expect(client.upload(CATALOG, 'echo', [], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    expect(server.received).toHaveLength(0);
  });

  it('refuses a second upload with the same uploadId while the first is in flight, and cancelUpload() aborts it', async () => {
    const source = new PassThrough();
    const first = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: source }], { uploadId: 'rows' });
    await expect(client.upload(IMPORTS, 'import_rows', [{ name: 'b.csv', data: Buffer.from('b') }], { uploadId: 'rows' })).rejects.toMatchObject({
      status: 0,
      code: 'upload_in_progress',
    });
    // Another id is independent.
    await expect(client.upload(IMPORTS, 'import_rows', [{ name: 'c.csv', data: Buffer.from('c') }], { uploadId: 'other' })).resolves.toMatchObject({ status: 202 });
    source.end('a,b\n');
    await expect(first).resolves.toMatchObject({ status: 202 });
    // Once settled, the id is free again.
    const again = new PassThrough();
    const second = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: again }], { uploadId: 'rows' });
    again.write('x');
    expect(client.cancelUpload('rows')).toBe(true);
    await expect(second).rejects.toMatchObject({ code: 'aborted' });
    expect(client.cancelUpload('rows')).toBe(false);
  });

  it('takes a retry under the same uploadId right after cancelUpload() or an abort of its signal (a "restart upload" button)', async () => {
    const source = new PassThrough();
    const first = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: source }], { uploadId: 'restart' });
    source.write('x');
    expect(client.cancelUpload('restart')).toBe(true);
    // In the same tick: the cancelled upload is over for the caller, its id free.
    const retry = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: Buffer.from('a,b\n') }], { uploadId: 'restart' });
    await expect(first).rejects.toMatchObject({ code: 'aborted' });
    await expect(retry).resolves.toMatchObject({ status: 202 });

    const controller = new AbortController();
    const third = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: new PassThrough() }], { uploadId: 'restart', signal: controller.signal });
    controller.abort();
    const fourth = client.upload(IMPORTS, 'import_rows', [{ name: 'a.csv', data: Buffer.from('a,b\n') }], { uploadId: 'restart' });
    await expect(third).rejects.toMatchObject({ code: 'aborted' });
    await expect(fourth).resolves.toMatchObject({ status: 202 });
    expect(client.cancelUpload('restart')).toBe(false);
  });

  it('reads a Readable only as fast as the server takes it (back-pressure)', async () => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 9);
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    server.pauseAfter = 1024 * 1024;
    const upload = client.upload(IMPORTS, 'slow_import', [{ name: 'big.bin', data: source, size: total }]);
    await until(() => (server.received[0]?.bodyBytes ?? 0) >= server.pauseAfter, 'the server to read its first MiB');
    // Wait until the client stopped reading its source (it waits for the socket to drain).
    let last = -1;
    let stable = 0;
    await until(() => {
      stable = produced === last ? stable + 1 : 0;
      last = produced;
      return stable >= 20;
    }, 'the source to stop being read');
    // Socket buffers hold a few MiB at most; without back-pressure the whole 64 MiB would have been read.
    expect(produced).toBeLessThan(server.received[0]!.bodyBytes + 24 * 1024 * 1024);
    server.resumeGate.open();
    await expect(upload).resolves.toMatchObject({ status: 202 });
    expect(server.received[0]!.parts[0]).toMatch(new RegExp(`^file:files:big\\.bin:application/octet-stream:${total}:`));
  });

  it('fails a source that yields another number of bytes than its declared size', async () => {
    await expect(client.upload(IMPORTS, 'import_rows', [{ name: 'short.bin', data: Readable.from([Buffer.alloc(10)]), size: 20 }])).rejects.toMatchObject({
      code: 'source_error',
    });
  });

  it('refuses bad arguments before sending anything', async () => {
    await expect(client.upload('', 'x', [])).rejects.toThrow(TypeError);
    await expect(client.upload(CATALOG, 'x', [{ name: '', data: Buffer.from('') }])).rejects.toThrow(TypeError);
    await expect(client.upload(CATALOG, 'x', [{ name: 'a', data: 'text' as never }])).rejects.toThrow(TypeError);
    await expect(client.upload(CATALOG, 'x', [{ name: 'a', data: Buffer.from('a'), contentType: 'text/plain\r\nX: y' }])).rejects.toThrow(TypeError);
    await expect(client.upload(CATALOG, 'x', [{ name: 'a', data: Buffer.from('a'), size: 5 }])).rejects.toThrow(TypeError);
    await expect(client.upload(CATALOG, 'x', [], { extraArgs: [] as never })).rejects.toThrow(TypeError);
    expect(server.received).toHaveLength(0);
  });
});

const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const hasChromium = ((): boolean => {
  try {
    accessSync(CHROMIUM_BIN, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
})();
if (!hasChromium && process.env.CI === 'true') throw new Error(`Chromium not found at ${CHROMIUM_BIN}; CI=true: the browser upload spec must run.`);

/** The client's own sources, compiled on request, and socket.io-client's and socket.io-parser's ESM builds: the page imports the real client. */
function servePage(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><html><head>
<script type="importmap">{ "imports": { "socket.io-client": "/vendor/socket.io-client.js", "socket.io-parser": "/vendor/socket.io-parser/index.js", "@socket.io/component-emitter": "/vendor/component-emitter.js" } }</script>
<script type="module">import * as rc from '/src/index.js'; window.rc = rc; window.ready = true;</script>
</head><body></body></html>`);
    return true;
  }
  if (url.pathname === '/vendor/socket.io-client.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(fileURLToPath(new URL('../../../node_modules/socket.io-client/dist/socket.io.esm.min.js', import.meta.url))));
    return true;
  }
  // socket.io-parser's ESM build (the client's size-limited decoder extends it) and the emitter it imports.
  const vendored =
    url.pathname === '/vendor/component-emitter.js'
      ? '@socket.io/component-emitter/lib/esm/index.js'
      : /^\/vendor\/socket\.io-parser\/([\w-]+\.js)$/.exec(url.pathname)?.[1]?.replace(/^/, 'socket.io-parser/build/esm/');
  if (vendored) {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(readFileSync(fileURLToPath(new URL(`../../../node_modules/${vendored}`, import.meta.url))));
    return true;
  }
  const match = /^\/src\/([\w.-]+)\.js$/.exec(url.pathname);
  if (match) {
    const source = fileURLToPath(new URL(`./${match[1]}.ts`, import.meta.url));
    const { code } = transformSync(readFileSync(source, 'utf8'), {
      filename: source,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    });
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(code);
    return true;
  }
  return false;
}

/** The page's view of one upload: what it resolved or rejected with, and its progress reports. */
interface PageOutcome {
  result?: { status: number; mode: string; updates: number };
  error?: { name: string; status: number; code: string; detail: string; limit?: number };
  progress: UploadProgress[];
}

(hasChromium ? describe : describe.skip)('ReflexClient.upload (browser: XMLHttpRequest in Chromium)', () => {
  let server: UploadTestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    server = new UploadTestServer();
    server.serveOther = servePage;
    await server.start();
    page = await browser.newPage();
    await page.goto(`${server.origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: DEADLINE_MS });
    // The page's client, and a helper that runs one upload and records its outcome under window.outcomes[key].
    await page.evaluate(
      ({ token }) => {
        const w = window as unknown as Record<string, any>;
        w.client = new w.rc.ReflexClient({ url: location.origin, token, storage: null, reconnect: false });
        w.outcomes = {};
        w.start = (key: string, state: string, handler: string, files: unknown[], options: Record<string, unknown> = {}) => {
          const outcome: Record<string, unknown> = { progress: [] };
          w.outcomes[key] = outcome;
          return w.client
            .upload(state, handler, files, { ...options, onProgress: (p: unknown) => (outcome.progress as unknown[]).push(p) })
            .then((r: { status: number; mode: string; updates: unknown[] }) => (outcome.result = { status: r.status, mode: r.mode, updates: r.updates.length }))
            .catch((e: any) => (outcome.error = { name: e.name, status: e.status, code: e.code, detail: e.detail ?? e.message, limit: e.limit }));
        };
        document.cookie = 'session=browser-cookie';
      },
      { token: TOKEN },
    );
  });

  afterEach(async () => {
    await page?.close();
    await server.stop();
  });

  const outcome = (key: string): Promise<PageOutcome | undefined> =>
    page.evaluate((k) => (window as unknown as { outcomes: Record<string, PageOutcome> }).outcomes[k], key);
  const settled = async (key: string): Promise<PageOutcome> => {
    await page.waitForFunction((k) => {
      const o = (window as unknown as { outcomes: Record<string, PageOutcome> }).outcomes[k];
      return o !== undefined && (o.result !== undefined || o.error !== undefined);
    }, key, { timeout: DEADLINE_MS });
    return (await outcome(key))!;
  };

  it('sends the form with credentials, reports progress to 100% and applies NDJSON lines as they arrive', async () => {
    await page.evaluate((catalog) => {
      const w = window as unknown as Record<string, any>;
      const file = new File([new Uint8Array(2 * 1024 * 1024).fill(7)], 'cat.png', { type: 'image/png' });
      Object.defineProperty(file, 'path', { value: 'photos/cat.png' }); // as a drop zone sets it
      void w.start('image', catalog, 'attach_image', [file], { extraArgs: { productId: 42 } });
    }, CATALOG);
    // The first line is applied while the answer is still open, with half of the next line already received.
    await page.waitForFunction((catalog) => (window as any).client.state(catalog)?.step === 1, CATALOG, { timeout: DEADLINE_MS });
    expect(await page.evaluate((catalog) => (window as any).client.state(catalog), CATALOG)).toEqual({ step: 1 });
    server.splitGate.open();
    const image = await settled('image');
    expect(image.error).toBeUndefined();
    expect(image.result).toEqual({ status: 200, mode: 'buffered', updates: 3 });
    expect(await page.evaluate((catalog) => (window as any).client.state(catalog), CATALOG)).toEqual({ step: 2, caption: 'café 🐱 ok' });

    const received = server.received[0]!;
    expect(received.headers['reflex-client-token']).toBe(TOKEN);
    expect(received.headers['reflex-event-handler']).toBe(`${CATALOG}.attach_image`);
    expect(received.headers['cookie']).toBe('session=browser-cookie');
    expect(received.parts[0]).toBe('field:__reflex_event_args={"productId":42}');
    expect(received.parts[1]).toMatch(/^file:files:photos\/cat\.png:image\/png:2097152:/);
    const total = Number(received.headers['content-length']);
    expect(image.progress.at(-1)).toEqual({ loaded: total, total, progress: 1 });
  });

  it('rejects a refusal with its structured body, even when it comes before the body was sent', async () => {
    await page.evaluate((catalog) => {
      const w = window as unknown as Record<string, any>;
      void w.start('big', catalog, 'too_large', [new Blob([new Uint8Array(8 * 1024 * 1024)])]);
    }, CATALOG);
    const big = await settled('big');
    expect(big.error).toEqual({ name: 'UploadRequestError', status: 413, code: 'upload_too_large', detail: 'A file is larger than 1024 bytes.', limit: 1024 });
  });

  it('resolves a streaming upload with 202, aborts through the signal, and refuses a duplicate uploadId', async () => {
    const streamed = await page.evaluate(async (imports) => {
      const w = window as unknown as Record<string, any>;
      await w.start('rows', imports, 'import_rows', [new File(['a,b\n'], 'rows.csv')]);
      return w.outcomes.rows;
    }, IMPORTS);
    expect(streamed.result).toEqual({ status: 202, mode: 'streaming', updates: 0 });

    server.pauseAfter = 1024 * 1024;
    await page.evaluate((imports) => {
      const w = window as unknown as Record<string, any>;
      w.controller = new AbortController();
      const big = new Blob([new Uint8Array(32 * 1024 * 1024)]);
      void w.start('slow', imports, 'slow_import', [big], { signal: w.controller.signal, uploadId: 'slow' });
      void w.start('dup', imports, 'import_rows', [new Blob(['x'])], { uploadId: 'slow' });
    }, IMPORTS);
    expect((await settled('dup')).error).toMatchObject({ status: 0, code: 'upload_in_progress' });
    await until(() => (server.received[1]?.bodyBytes ?? 0) >= server.pauseAfter, 'the server to read its first MiB');
    await page.evaluate(() => (window as any).controller.abort());
    const slow = await settled('slow');
    expect(slow.error).toMatchObject({ status: 0, code: 'aborted' });
    // The paused server reads again, and finds the connection closed mid-body.
    server.resumeGate.open();
    await until(() => server.received[1]!.aborted, 'the server to see the request end');
    expect(server.received[1]!.complete).toBe(false);
    expect(server.received).toHaveLength(2);
  });

  it('fails an answer longer than maxUploadAnswerChars instead of holding it all (XMLHttpRequest keeps the whole answer)', async () => {
    await page.evaluate(
      ({ catalog, token }) => {
        const w = window as unknown as Record<string, any>;
        w.client = new w.rc.ReflexClient({ url: location.origin, token, storage: null, reconnect: false, maxUploadAnswerChars: 1024 * 1024 });
        void w.start('endless', catalog, 'endless', [new Blob(['x'])]);
      },
      { catalog: CATALOG, token: TOKEN },
    );
    const endless = await settled('endless');
    expect(endless.error).toMatchObject({ name: 'UploadRequestError', status: 0, code: 'answer_too_large', limit: 1024 * 1024 });
    // The page closed the connection; it did not read on until the test server gave up on its own.
    await until(() => server.answerClosed, 'the server to see the connection closed');
    expect(server.answerChars).toBeLessThan(256 * 1024 * 1024);
  });

  it('refuses a stream as file data in a browser', async () => {
    await page.evaluate((catalog) => {
      const w = window as unknown as Record<string, any>;
      void w.start('stream', catalog, 'echo', [{ name: 'a', data: new Blob(['a']).stream() }]);
    }, CATALOG);
    expect((await settled('stream')).error).toMatchObject({ name: 'TypeError' });
  });
});

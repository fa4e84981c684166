import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventHandler, EventUploadChunks, EventUploadSignal, EventUploads, ReflexBridgeModule, State, type UploadChunkIterator, type UploadFile,
} from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';
import { LINGER_MS } from '../libs/reflex-bridge/src/security/lingering-close.js';
import { LINGER_DRAIN_BURST_BYTES, LINGER_DRAIN_BYTES_PER_SECOND, MAX_LINGERING_PER_ADDRESS } from '../libs/reflex-bridge/src/security/lingering-drain.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { openConnections } from './support/unread-answer.js';

const HOSTILE = 'reflex___state____state.hostile_upload_state';
const DEFAULT_WAIT_MS = 20_000;
const BOUNDARY = 'xHostileBoundaryx';
const MAX_TOTAL_BYTES = 1000;
/** A frontend served from its own origin, listed in `corsOrigins`. */
const FRONTEND_ORIGIN = 'https://frontend.example';

/** Handlers that ran, by name (module-level: handlers run on per-event views). */
const ran: string[] = [];

@State()
class HostileUploadState {
  bytes = 0;

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    ran.push('attach');
    this.bytes += files.reduce((sum, file) => sum + file.size, 0);
  }

  @EventHandler()
  async importRows(@EventUploadChunks() chunks: UploadChunkIterator): Promise<void> {
    ran.push('importRows');
    for await (const chunk of chunks) this.bytes += chunk.data.length;
  }

  /** Refuses a file by quoting its name, as validation errors do. */
  @EventHandler()
  rejectName(@EventUploads() files: UploadFile[]): void {
    ran.push('rejectName');
    throw new Error(`cannot import ${files[0]?.name ?? '(no file)'}`);
  }

  /** Works until its upload is cancelled, then stops with the signal's reason, as AbortSignal-aware APIs do. */
  @EventHandler()
  async process(@EventUploads() _files: UploadFile[], @EventUploadSignal() signal: AbortSignal): Promise<void> {
    ran.push('process');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    throw signal.reason;
  }
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A file part's head, up to its bytes. */
function filePart(name = 'rows.csv'): string {
  return `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: text/csv\r\n\r\n`;
}

describe('uploads from hostile clients', () => {
  let running: RunningApp;
  let tempDirectory: string;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-hostile-e2e-'));
    running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ corsOrigins: [FRONTEND_ORIGIN], uploads: { tempDirectory, maxFileBytes: MAX_TOTAL_BYTES, maxTotalBytes: MAX_TOTAL_BYTES, maxEventArgsBytes: MAX_TOTAL_BYTES } })], providers: [HostileUploadState] },
      undefined,
      logger,
    );
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
    ran.length = 0;
  });

  afterAll(async () => {
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });

  const connect = (): Promise<RawSocket> => RawSocket.hydrated(running.url, sockets);
  const inProgress = (): number => running.app.get(UploadRoute).inProgress;
  /** Error lines logged since `from`. */
  const errorsSince = (from: number) => logger.lines.slice(from).filter((line) => line.level === 'error');

  /** A multipart upload by hand, its headers sent: write to `request`, read `response`. */
  const rawUpload = (handler: string, token: string) => {
    const { port } = new URL(running.url);
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/_upload',
      headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': `${HOSTILE}.${handler}`, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    request.on('error', () => undefined);
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
    });
    response.catch(() => undefined);
    return { request, response };
  };

  const bodyOf = async (response: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  };

  /**
   * Sends `before`, then 1 MiB blocks until the server answers or closes (at most `blocks`), then `after`: the
   * answer's status and body, and how many blocks were sent.
   */
  const flood = async (handler: string, token: string, before: string, after: string, blocks = 64): Promise<{ status: number | undefined; body: string; blocks: number; connection?: string }> => {
    const { request, response } = rawUpload(handler, token);
    let answered: IncomingMessage | undefined;
    let closed = false;
    void response.then((res) => (answered = res), () => undefined);
    request.once('close', () => (closed = true));
    request.write(before);
    const block = Buffer.alloc(1024 * 1024, 'x');
    let sent = 0;
    while (sent < blocks && !answered && !closed) {
      sent += 1;
      if (!request.write(block)) await new Promise<void>((resolve) => {
        request.once('drain', resolve);
        request.once('close', resolve);
      });
    }
    if (!answered && !closed) request.end(after);
    const res = await response.catch(() => undefined);
    return { status: res?.statusCode, body: res ? await bodyOf(res) : '', blocks: sent, connection: res?.headers.connection };
  };

  for (const [where, before, after] of [
    ['a part without Content-Disposition', `--${BOUNDARY}\r\nX-Note: skipped\r\n\r\n`, `\r\n${filePart()}a\r\n--${BOUNDARY}--\r\n`],
    ['the preamble, before the first boundary', '', `\r\n${filePart()}a\r\n--${BOUNDARY}--\r\n`],
    ['the epilogue, after the last boundary', `${filePart()}a\r\n--${BOUNDARY}--\r\n`, ''],
  ] as const) {
    for (const handler of ['attach', 'importRows']) {
      it(`${handler}: refuses a body far longer than any form within the limits, with the bytes in ${where}`, async () => {
        const tab = await connect();
        const result = await flood(handler, tab.token, before, after);
        // Refused long before the 64 MiB were sent: no limit counted those bytes, and the whole body was read.
        expect(result.status).toBe(413);
        expect(JSON.parse(result.body)).toEqual({ detail: expect.any(String) as unknown, code: 'upload_too_large', limit: expect.any(Number) as unknown });
        expect(result.blocks).toBeLessThan(64);
        expect(result.connection).toBe('close');
        expect(ran).not.toContain('attach');
        await until(() => inProgress() === 0, 'the slot to be released');
        await until(async () => (await readdir(tempDirectory)).length === 0, 'the temp files to go');
      });
    }
  }

  /**
   * Posts `head` (a request's headers, the body chunked), waits for the answer's head, then writes an endless body as
   * fast as the server reads it until the server closes the connection: the answer's status line and head.
   */
  const endlessBody = async (head: string): Promise<string> => {
    const socket = connectTcp(Number(new URL(running.url).port), '127.0.0.1');
    let answer = '';
    let closed = false;
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => (closed = true));
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(head);
      // The answer comes before any of the body is read; taken before the body starts (a reset may discard it).
      await until(() => closed || answer.includes('\r\n\r\n'), 'the answer');
      const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
      // Kept alive, Node read and dropped this body until its requestTimeout (300 s): 0.6-0.7 GB in 4 s.
      await until(() => {
        if (!closed && socket.writableLength < 1_000_000) socket.write(chunk);
        return closed;
      }, `the connection answered ${answer.split('\r\n')[0]} to close`);
      return answer.slice(0, answer.indexOf('\r\n\r\n'));
    } finally {
      socket.destroy();
    }
  };

  it('answers a refusal before the body with Connection: close and closes the connection, however long the body goes on', async () => {
    const tab = await connect();
    const request = (headers: Record<string, string>): string =>
      `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
    const multipart = `multipart/form-data; boundary=${BOUNDARY}`;
    for (const [status, headers] of [
      [400, { 'Content-Type': multipart }],
      [403, { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${HOSTILE}.attach`, 'Content-Type': multipart, Origin: 'https://attacker.example' }],
      [404, { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${HOSTILE}.nothing`, 'Content-Type': multipart }],
      [415, { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${HOSTILE}.attach`, 'Content-Type': 'text/plain' }],
      [410, { 'Reflex-Client-Token': randomUUID(), 'Reflex-Event-Handler': `${HOSTILE}.attach`, 'Content-Type': multipart }],
    ] as const) {
      const head = await endlessBody(request(headers));
      expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(head).toMatch(/\r\nConnection: close(\r\n|$)/i);
    }
    expect(ran).toEqual([]);
    await until(() => inProgress() === 0, 'the slots to be released');
  });

  /**
   * Posts `head` (a request's headers, the body chunked), waits for the answer's head, then writes an endless body as
   * fast as the connection takes it until the server closes it: the answer's status line and the body bytes written.
   */
  const fastEndlessBody = async (head: string, localAddress = '127.0.0.1', onAnswer?: () => void): Promise<{ status: string; written: number }> => {
    // Half-open: it goes on sending after the server's end of the stream, as a client that never reads would.
    const socket = connectTcp({ port: Number(new URL(running.url).port), host: '127.0.0.1', localAddress, allowHalfOpen: true });
    let answer = '';
    let closed = false;
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
    const gone = new Promise<void>((resolve) => socket.once('close', resolve));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(head);
      await until(() => closed || answer.includes('\r\n\r\n'), 'the answer');
      onAnswer?.();
      const sentBefore = socket.bytesWritten;
      const chunk = Buffer.from(`10000\r\n${'a'.repeat(0x10000)}\r\n`);
      const pump = (): void => {
        while (!closed && socket.write(chunk));
      };
      socket.on('drain', pump);
      pump();
      await gone;
      // What the server took: what the kernel accepted (a chunk or two may still wait in Node's buffer).
      return { status: answer.split('\r\n')[0]!, written: socket.bytesWritten - socket.writableLength - sentBefore };
    } finally {
      socket.destroy();
    }
  };

  it('reads the bodies of uploads refused before their body at a bounded rate, however many connections send them', async () => {
    // Refused on their headers, the bodies go on (a client writing as fast as it can) while the connections linger.
    // Each was read as fast as it came, about 1 GB/s on loopback: refused uploads with 32 MB bodies, 4 at a time from
    // one address, held another client at a median of 57 ms. Together they may read a burst, then a rate.
    const head = `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`;
    const bodies = await Promise.all(Array.from({ length: 4 }, () => fastEndlessBody(head)));
    for (const body of bodies) expect(body.status).toMatch(/^HTTP\/1\.1 400 /);
    const total = bodies.reduce((sum, body) => sum + body.written, 0);
    // The burst, the rate for the linger and a second more (a loaded machine's late timer), and the kernel's socket
    // buffers on both sides of each connection (at most 16 MiB on Linux's defaults).
    const bound = LINGER_DRAIN_BURST_BYTES + ((LINGER_MS + 1000) / 1000) * LINGER_DRAIN_BYTES_PER_SECOND + bodies.length * 16 * 1024 * 1024;
    expect(total).toBeLessThan(bound);
  });

  /**
   * Keeps `count` connections from `localAddress` lingering, each a refused upload's endless body written as fast as
   * the connection takes it (`head` is refused on its headers), a new one opened as each is cut, until `stop()`
   * resolves once the last is cut. `answered()` counts the connections answered so far.
   */
  const keepLingering = (count: number, localAddress: string, head: string) => {
    let stopping = false;
    let answered = 0;
    const live = new Set<Promise<void>>();
    const linger = (): void => {
      const done = fastEndlessBody(head, localAddress, () => (answered += 1)).then(() => {
        live.delete(done);
        if (!stopping) linger();
      });
      live.add(done);
    };
    for (let i = 0; i < count; i++) linger();
    return {
      answered: () => answered,
      stop: async (): Promise<void> => {
        stopping = true;
        while (live.size > 0) await Promise.all(live);
      },
    };
  };

  /**
   * A refused upload as a browser sends it, from `localAddress`: its headers and its whole `bytes`-long body written
   * (as the connection takes it), its answer read once the connection ends. A browser that is cut before it sent the
   * whole body sees a reset connection, not the answer (nginx in front answers 502).
   */
  const refusedWholeUpload = async (token: string, localAddress: string, bytes: number): Promise<{ status?: number; body: string; error?: string; written: number }> => {
    const socket = connectTcp({ port: Number(new URL(running.url).port), host: '127.0.0.1', localAddress, allowHalfOpen: true });
    let received = '';
    let error: string | undefined;
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.on('error', (failure: NodeJS.ErrnoException) => (error ??= failure.code ?? failure.message));
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${bytes}\r\nReflex-Client-Token: ${token}\r\nReflex-Event-Handler: ${HOSTILE}.attach\r\n` +
          `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`,
      );
      const block = Buffer.alloc(64 * 1024, 'a');
      let left = bytes;
      while (left > 0 && error === undefined && !socket.destroyed) {
        const piece = left >= block.length ? block : block.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
      if (error === undefined && !socket.destroyed) socket.end();
      await gone;
      const end = received.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1];
      return { status: error === undefined && status ? Number(status) : undefined, body: end === -1 ? '' : received.slice(end + 4), error, written: socket.bytesWritten };
    } finally {
      socket.destroy();
    }
  };

  it("sends the answer of one address's refused upload whole while another address keeps endless refused bodies lingering", async () => {
    const tab = await connect();
    // The attacker: endless bodies refused on their headers, kept lingering from one address.
    const head = `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`;
    const attacker = keepLingering(16, '127.0.0.1', head);
    await until(() => attacker.answered() >= 16, 'the attacker to be answered');
    // A browser on another address: a 20 MB file refused on its Content-Length (over maxTotalBytes), sent whole as
    // browsers do before they read the answer. With one allowance for the whole process, the attacker's bodies spent it
    // and this one was paused behind them: 0.6 MB of it read in the 5 s of the linger, then cut (EPIPE, not the answer).
    const victim = await refusedWholeUpload(tab.token, '127.0.0.2', 20 * 1000 * 1000);
    await attacker.stop();
    expect(victim.error).toBeUndefined();
    expect(victim.written).toBeGreaterThan(20 * 1000 * 1000);
    expect(victim.status).toBe(413);
    expect(JSON.parse(victim.body)).toMatchObject({ code: 'upload_too_large' });
  });

  it('keeps at most MAX_LINGERING_PER_ADDRESS connections of one address lingering at once: the next ones are cut as they are answered', async () => {
    // Refused uploads from one address, each body endless and written as fast as the connection takes it, opened one
    // after another as the one before was answered. Each lingered for 5 s: 800 a second held thousands of descriptors.
    const head = `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`;
    const before = await openConnections(running);
    const bodies: Array<Promise<unknown>> = [];
    let most = 0;
    for (let i = 0; i < MAX_LINGERING_PER_ADDRESS + 16; i++) {
      await new Promise<void>((answered) => bodies.push(fastEndlessBody(head, '127.0.0.3', answered)));
      most = Math.max(most, (await openConnections(running)) - before);
    }
    await Promise.all(bodies);
    // The lingering ones, and the one just answered, which may not have been cut yet when counted.
    expect(most).toBeLessThanOrEqual(MAX_LINGERING_PER_ADDRESS + 1);
  });

  it('reads the rest of a body refused mid-way (a file over maxFileBytes) only up to the body bound, then closes', async () => {
    const tab = await connect();
    // The file's first bytes pass the limit: refused 413 with the rest read and dropped so a browser can finish
    // sending and read the answer. It was read without a bound, until Node's requestTimeout (300 s).
    const head = `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nReflex-Client-Token: ${tab.token}\r\nReflex-Event-Handler: ${HOSTILE}.attach\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`;
    const part = Buffer.from(`${filePart()}${'a'.repeat(MAX_TOTAL_BYTES + 10)}`);
    const answered = await endlessBody(`${head}${part.length.toString(16)}\r\n${part.toString('latin1')}\r\n`);
    expect(answered).toMatch(/^HTTP\/1\.1 413 /);
    await until(() => inProgress() === 0, 'the slot to be released');
  });

  it("the module's other routes answer a request with an endless body and close its connection: ping, health, the cookie handoff and its preflights", async () => {
    for (const [status, head] of [
      [200, 'GET /ping HTTP/1.1'],
      [200, 'GET /_health HTTP/1.1'],
      [403, 'POST /_bridge/session-cookie/x HTTP/1.1'],
      [403, 'OPTIONS /_upload HTTP/1.1\r\nOrigin: https://attacker.example'],
      // The handoff's preflights that are answered 204: a listed origin's, and one naming no origin. They were kept
      // alive, Node reading and dropping the endless body until its requestTimeout (300 s).
      [204, `OPTIONS /_bridge/session-cookie/x HTTP/1.1\r\nOrigin: ${FRONTEND_ORIGIN}`],
      [204, 'OPTIONS /_bridge/session-cookie/x HTTP/1.1'],
      [403, 'OPTIONS /_bridge/session-cookie/x HTTP/1.1\r\nOrigin: https://attacker.example'],
    ] as const) {
      const answered = await endlessBody(`${head}\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`);
      expect(answered).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(answered).toMatch(/\r\nConnection: close(\r\n|$)/i);
    }
  });

  it('refuses a declared Content-Length past that bound before reading any of the body, and before 100 Continue', async () => {
    const tab = await connect();
    const { port } = new URL(running.url);
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/_upload',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${HOSTILE}.attach`, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, 'Content-Length': String(10 * 1024 ** 3), Expect: '100-continue' },
    });
    request.on('error', () => undefined);
    // A client that waits for 100 Continue (curl over 1 MB) is never told to send a body that is refused anyway.
    let continued = false;
    request.once('continue', () => (continued = true));
    const response = new Promise<IncomingMessage>((resolve) => request.once('response', resolve));
    // Headers only: the answer cannot wait for any of the 10 GiB.
    request.flushHeaders();
    const answered = await response;
    expect(answered.statusCode).toBe(413);
    expect(continued).toBe(false);
    expect(answered.headers.connection).toBe('close');
    expect(JSON.parse(await bodyOf(answered))).toMatchObject({ code: 'upload_too_large' });
    // The tab is told, as for any limit its upload passed.
    await tab.until(() => tab.errors.length === 1, DEFAULT_WAIT_MS, 'the tab to be told');
    expect(tab.errors[0]).toMatchObject({ code: 'upload_too_large', status: 413 });
    request.destroy();
    await until(() => inProgress() === 0, 'the slot to be released');
  });

  it('still takes a form at its limits: a file of maxTotalBytes, with the text fields and part headers a form may have', async () => {
    const tab = await connect();
    const fields = Array.from({ length: 30 }, (_, i) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="note${i}"\r\nX-Pad: ${'p'.repeat(8000)}\r\n\r\n${'n'.repeat(MAX_TOTAL_BYTES)}\r\n`).join('');
    const { request, response } = rawUpload('attach', tab.token);
    request.end(`${fields}${filePart()}${'a'.repeat(MAX_TOTAL_BYTES)}\r\n--${BOUNDARY}--\r\n`);
    const answered = await response;
    expect(answered.statusCode).toBe(200);
    await bodyOf(answered);
    expect(ran).toEqual(['attach']);
  });

  it('a handler error quoting a file name, its tab gone: escaped, and logged within the limits however often it is sent', async () => {
    const tab = await connect();
    tab.close();
    await until(() => running.app.get(EventGateway).clientFor(tab.token) === undefined, 'the tab to be gone');
    const from = logger.lines.length;
    // Names with C0/C1 controls are refused (400), but U+2028, a line break to log viewers and JSON-lines tools, is a
    // character a name may hold.
    const name = "filename*=UTF-8''a.csv%E2%80%A8%5BNest%5D%201%20%20-%20LOG%20%5BAuth%5D%20admin%20logged%20in";
    const sent = 12;
    for (let i = 0; i < sent; i++) {
      const { request, response } = rawUpload('rejectName', tab.token);
      request.end(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; ${name}\r\nContent-Type: text/csv\r\n\r\na\r\n--${BOUNDARY}--\r\n`);
      const answered = await response;
      expect(answered.statusCode).toBe(500);
      await bodyOf(answered);
    }
    expect(ran.filter((name) => name === 'rejectName')).toHaveLength(sent);
    const errors = errorsSince(from);
    expect(errors.length).toBeGreaterThan(0);
    // One kind of error, repeated: a few lines, not one per upload.
    expect(errors.length).toBeLessThan(sent);
    for (const { message } of errors) {
      expect(message).toContain('cannot import a.csv\\u2028[Nest]');
      expect(message).not.toContain('\u2028');
    }
  });

  it('logs no error for what a client did: a body that ends mid-file, a client that goes away mid-stream or while its handler runs', async () => {
    const from = logger.lines.length;
    const tab = await connect();
    // A streaming upload whose body ends in the middle of its file: the handler's loop throws the 400.
    const truncated = rawUpload('importRows', tab.token);
    truncated.request.end(`${filePart()}some,rows`);
    expect((await truncated.response).statusCode).toBe(400);
    // A streaming upload whose client goes away once its handler reads: the loop throws UploadAbortedError.
    const gone = rawUpload('importRows', tab.token);
    gone.request.write(`${filePart()}some,rows`);
    await until(() => ran.filter((name) => name === 'importRows').length === 2, 'the second streaming handler to start');
    gone.request.destroy();
    // A buffered handler at work whose client goes away: it stops with its signal's UploadAbortedError.
    const left = rawUpload('process', tab.token);
    left.request.end(`${filePart()}some,rows\r\n--${BOUNDARY}--\r\n`);
    await until(() => ran.includes('process'), 'the buffered handler to start');
    left.request.destroy();
    await until(() => inProgress() === 0, 'the uploads to end');
    expect(errorsSince(from)).toEqual([]);
  });
});

describe('the budget of form text per client address (uploads.eventArgsPerAddress)', () => {
  // A window far longer than the test: what it spends stays spent however slow the machine is.
  const WINDOW = { limit: 6, ttlMs: 600_000 };
  let running: RunningApp;
  let tempDirectory: string;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-args-budget-e2e-'));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: { tempDirectory, eventArgsPerAddress: WINDOW } })], providers: [HostileUploadState] }, undefined, logger);
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
    ran.length = 0;
  });

  afterAll(async () => {
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });

  const inProgress = (): number => running.app.get(UploadRoute).inProgress;

  /** An upload to `attach` from `localAddress`, its headers sent: `send(args)` writes the form with those arguments. */
  const openUpload = (token: string, localAddress: string) => {
    const request = httpRequest({
      host: '127.0.0.1',
      port: new URL(running.url).port,
      localAddress,
      method: 'POST',
      path: '/_upload',
      headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': `${HOSTILE}.attach`, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    request.on('error', () => undefined);
    const response = new Promise<{ status: number; body: string; retryAfter?: string }>((resolve, reject) => {
      request.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), retryAfter: res.headers['retry-after'] }));
        res.on('error', reject);
      });
      request.once('error', reject);
    });
    response.catch(() => undefined);
    request.flushHeaders();
    const send = (args: string) =>
      request.end(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="__reflex_event_args"\r\n\r\n${args}\r\n${filePart()}a\r\n--${BOUNDARY}--\r\n`);
    return { request, response, send };
  };

  const upload = (token: string, localAddress: string, args: string) => {
    const opened = openUpload(token, localAddress);
    opened.send(args);
    return opened.response;
  };

  /**
   * Posts an upload's headers from `localAddress` on a raw connection, its body chunked and not yet begun, and waits
   * for the whole answer (no body byte has been sent: whatever comes was decided before the body was read); then
   * writes an endless body until the server closes the connection. The answer's head and body.
   */
  const answerWithoutBody = async (token: string, localAddress: string): Promise<{ head: string; body: string }> => {
    const socket = connectTcp({ port: Number(new URL(running.url).port), host: '127.0.0.1', localAddress });
    let received = '';
    let closed = false;
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => (closed = true));
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nReflex-Client-Token: ${token}\r\nReflex-Event-Handler: ${HOSTILE}.attach\r\n` +
          `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n\r\n`,
      );
      const whole = (): boolean => {
        const end = received.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(received)?.[1];
        return end !== -1 && length !== undefined && received.length >= end + 4 + Number(length);
      };
      await until(() => closed || whole(), 'the answer, before any of the body was sent');
      const end = received.indexOf('\r\n\r\n');
      const answer = { head: received.slice(0, end), body: received.slice(end + 4) };
      // The body, endless: the connection closes all the same (it is not read on until Node's requestTimeout).
      const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
      await until(() => {
        if (!closed && socket.writableLength < 1_000_000) socket.write(chunk);
        return closed;
      }, 'the connection to close');
      return answer;
    } finally {
      socket.destroy();
    }
  };

  it('refuses an address that spent it 429 rate_limited before reading the body, with Retry-After; another address is still served', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    const from = logger.lines.length;
    // 20,000 characters: 3 units each. Arguments refused for their shape were scanned, and are charged too.
    const valid = JSON.stringify({ s: 'x'.repeat(19_992) });
    const malformed = `{"s":"${'x'.repeat(19_994)}`;
    expect((await upload(tab.token, '127.0.0.1', valid)).status).toBe(200);
    expect(await upload(tab.token, '127.0.0.1', malformed)).toMatchObject({ status: 400, body: expect.stringContaining('upload_bad_args') as unknown });
    expect(ran).toEqual(['attach']);

    const refused = await answerWithoutBody(tab.token, '127.0.0.1');
    expect(refused.head).toMatch(/^HTTP\/1\.1 429 /);
    expect(refused.head).toMatch(/\r\nConnection: close(\r\n|$)/i);
    const retryAfter = Number(/\r\nRetry-After: (\d+)/i.exec(refused.head)?.[1]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW.ttlMs / 1000);
    expect(JSON.parse(refused.body)).toEqual({ detail: expect.stringContaining('try again in') as unknown, code: 'rate_limited' });

    // Another address (a user behind another NAT) uploads as before.
    expect((await upload(tab.token, '127.0.0.2', valid)).status).toBe(200);
    expect(ran).toEqual(['attach', 'attach']);
    // Told once, naming the option.
    const warnings = logger.lines.slice(from).filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('127.0.0.1');
    expect(warnings[0]!.message).toContain('uploads.eventArgsPerAddress');
    await until(() => inProgress() === 0, 'the slots to be released');
  });

  it('refuses the arguments of an upload already under way once its address spent the budget, without scanning them', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    // Past the arrival check, waiting for its body.
    const late = openUpload(tab.token, '127.0.0.3');
    await until(() => inProgress() === 1, 'the first upload to be under way');
    // 7 units: the budget is spent (taken whole: the field found room).
    expect((await upload(tab.token, '127.0.0.3', JSON.stringify({ s: 'x'.repeat(50_000) }))).status).toBe(200);
    // Malformed: scanned, it would be 400 upload_bad_args.
    late.send(`{"s":"${'x'.repeat(10_000)}`);
    const answered = await late.response;
    expect(answered.status).toBe(429);
    expect(JSON.parse(answered.body)).toMatchObject({ code: 'rate_limited' });
    expect(Number(answered.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(ran).toEqual(['attach']);
    await until(() => inProgress() === 0, 'the slots to be released');
  });
});

describe('uploads still arriving when the app shuts down', () => {
  it('answers them 503 uploads_busy with Retry-After once shutdownGraceMs ran out, removes their temp files, and app.close() does not wait for their clients', async () => {
    const tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-shutdown-e2e-'));
    // Stalled clients are never timed out during the test: only the shutdown may end their uploads, after its grace.
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ shutdownGraceMs: 1_000, uploads: { tempDirectory, idleTimeoutMs: 600_000 } })], providers: [HostileUploadState] });
    const tabs = [await RawSocket.hydrated(running.url), await RawSocket.hydrated(running.url)];
    const requests: ClientRequest[] = [];
    try {
      const { port } = new URL(running.url);
      const stall = (handler: string, token: string) => {
        const request = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/_upload',
          headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': `${HOSTILE}.${handler}`, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
        });
        request.on('error', () => undefined);
        requests.push(request);
        const response = new Promise<IncomingMessage | undefined>((resolve) => {
          request.once('response', resolve);
          request.once('close', () => resolve(undefined));
        });
        // A file's first bytes, then nothing: a slowloris, or a client on a network that stalled.
        request.write(`${filePart()}some,rows`);
        return { request, response };
      };
      const buffered = stall('attach', tabs[0]!.token);
      const streaming = stall('importRows', tabs[1]!.token);
      await until(async () => (await readdir(tempDirectory, { recursive: true })).length === 2 && ran.includes('importRows'), 'both uploads to be under way');
      for (const tab of tabs) tab.close();
      const closed = running.close().then(() => 'closed');
      // The stalled clients would hold app.close() until their idle timeout (10 minutes here): it must end well before.
      const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still waiting for the stalled uploads'), 20_000).unref())]);
      expect(outcome).toBe('closed');
      for (const upload of [buffered, streaming]) {
        const answered = await upload.response;
        expect(answered?.statusCode).toBe(503);
        expect(answered?.headers['retry-after']).toMatch(/^[1-9]\d*$/);
        expect(answered?.headers.connection).toBe('close');
        upload.request.destroy();
      }
      expect(await readdir(tempDirectory)).toEqual([]);
    } finally {
      for (const request of requests) request.destroy();
      for (const tab of tabs) tab.close();
      await running.close().catch(() => undefined);
      await rm(tempDirectory, { recursive: true, force: true });
    }
  });
});

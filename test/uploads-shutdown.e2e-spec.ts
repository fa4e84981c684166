import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { EventHandler, EventUploads, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';
import { Gate } from './support/gate.js';

const DRAIN = 'reflex___state____state.drain_upload_state';

/** The gate the held event waits at (module-level: handlers run on per-event views). */
let gate = new Gate();
/** Upload handlers that ran. */
const ran: string[] = [];

@State()
class DrainUploadState {
  files = 0;
  count = 0;

  /** An event the test holds open: the app's shutdown drains it while the test sends what comes during the drain. */
  @EventHandler()
  async hold(): Promise<void> {
    gate.arrive();
    await gate.opened;
    this.count += 1;
  }

  @EventHandler()
  bump(): void {
    this.count += 10;
  }

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    ran.push('attach');
    this.files += files.length;
  }
}

const BOUNDARY = 'xDrainBoundaryx';

/**
 * Writes `request` in one write on a new connection and reads the answer until the server closes it: its status,
 * headers (lower-case names) and body.
 */
async function rawExchange(url: URL, request: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const socket = connectTcp(Number(url.port), url.hostname);
  socket.on('error', () => undefined);
  socket.write(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('an upload that arrives once the app began shutting down', () => {
  const sockets: RawSocket[] = [];
  let running: RunningApp | undefined;
  let tempDirectory: string | undefined;
  afterEach(async () => {
    gate.release();
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close().catch(() => undefined);
    if (tempDirectory) await rm(tempDirectory, { recursive: true, force: true });
    ran.length = 0;
  });

  it("is refused 503 server_stopping with Retry-After and its connection closed, as the tab's events are: its handler does not run", async () => {
    gate = new Gate();
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-shutdown-e2e-'));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: { tempDirectory } })], providers: [DrainUploadState] });
    const holder = await RawSocket.hydrated(running.url, sockets);
    const uploader = await RawSocket.hydrated(running.url, sockets);
    holder.send(`${DRAIN}.hold`);
    await gate.entered;
    const closed = running.close();
    // The drain has begun once the uploader's next event is refused (the holder's would queue behind its running one).
    await until(() => {
      uploader.send(`${DRAIN}.bump`);
      return uploader.errors.some((error) => error.code === 'server_stopping');
    }, 'the shutdown to begin');

    // The whole upload in one write, its body's length declared, as curl sends a small file: the server has all of it
    // by the time its checks are done.
    const body = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\nsome,rows\r\n--${BOUNDARY}--\r\n`;
    const answer = await rawExchange(
      new URL(running.url),
      `POST /_upload HTTP/1.1\r\nHost: x\r\nReflex-Client-Token: ${uploader.token}\r\nReflex-Event-Handler: ${DRAIN}.attach\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // Before: 503 'uploads_busy', as an upload cut off mid-body, once its token's state had been read and its tier
    // run during the drain; now the code the tab's events and handshakes get then, before anything is spent on it.
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toEqual({ detail: expect.stringContaining('shutting down') as unknown, code: 'server_stopping' });
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.headers.connection).toBe('close');
    expect(ran).toEqual([]);
    expect(await readdir(tempDirectory)).toEqual([]);

    gate.release();
    await closed;
    running = undefined;
    await holder.until(() => holder.latest(DRAIN, 'count') === 1, 20_000, "the held event's delta");
  });
});

describe('an upload under way when the app begins shutting down', () => {
  const sockets: RawSocket[] = [];
  let running: RunningApp | undefined;
  let tempDirectory: string | undefined;
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close().catch(() => undefined);
    if (tempDirectory) await rm(tempDirectory, { recursive: true, force: true });
    ran.length = 0;
  });

  it('finishes when its body arrives within shutdownGraceMs: its handler runs and it is answered 200, then the app closes', async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-shutdown-e2e-'));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: { tempDirectory } })], providers: [DrainUploadState] });
    const uploader = await RawSocket.hydrated(running.url, sockets);
    const probe = await RawSocket.hydrated(running.url, sockets);
    const url = new URL(running.url);
    const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\nsome,`;
    const rest = `rows\r\n--${BOUNDARY}--\r\n`;
    const socket = connectTcp(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    const answer = (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString();
    })();
    socket.write(
      `POST /_upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nReflex-Client-Token: ${uploader.token}\r\nReflex-Event-Handler: ${DRAIN}.attach\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${Buffer.byteLength(head + rest)}\r\n\r\n${head}`,
    );
    // Its file is being written: the upload passed its checks and its body is arriving.
    await until(async () => (await readdir(tempDirectory!, { recursive: true })).length > 0 || undefined, 'the upload to be under way');
    const closed = running.close();
    // The drain has begun once an idle tab's event is refused (before: it ended at once, closing the tab's socket).
    await until(() => {
      probe.send(`${DRAIN}.bump`);
      return probe.errors.some((error) => error.code === 'server_stopping') || !probe.socket.connected || undefined;
    }, 'the shutdown to begin');
    socket.write(rest);
    const text = await answer;
    // Before: 503 uploads_busy at the start of the drain, the user's file refused for a restart.
    expect(text.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(ran).toEqual(['attach']);
    await closed;
    running = undefined;
    expect(await readdir(tempDirectory)).toEqual([]);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import {
  EventHandler, EventUploadChunks, EventUploadSignal, EventUploads, Payload, RedisStateStore, ReflexBridgeModule, State,
  type UploadChunkIterator, type UploadFile, type UploadOptions,
} from '@reflex-bridge/nest';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import type { UploadCall } from '../libs/reflex-bridge/src/pipeline/upload-call.js';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const SLOW = 'reflex___state____state.slow_upload_state';
const DEFAULT_WAIT_MS = 20_000;
const BOUNDARY = 'xCancelBoundaryx';

/** What the handlers saw, for the assertions (module-level: handlers run on per-event views). */
const seen = {
  /** Bytes each streaming upload's handler has read so far, by its `run` arg. */
  streamed: new Map<string, number>(),
  /** Buffered handlers that started waiting, with their temp files' paths. */
  started: new Map<string, string[]>(),
  /** What each handler saw of its cancellation: the signal's reason, and whether its loop threw. */
  cancelled: new Map<string, { reason?: string; loopThrew?: string }>(),
  /** Releases the event that holds the tab's queue (see `holdQueue`), once it runs. */
  releaseQueue: undefined as (() => void) | undefined,
  /** Streaming handlers that started, by their `run` arg. */
  streamingStarted: [] as string[],
};

function noteCancel(run: string, entry: { reason?: string; loopThrew?: string }): void {
  seen.cancelled.set(run, { ...seen.cancelled.get(run), ...entry });
}

@State()
class SlowUploadState {
  streamed = 0;
  note = '';
  files = 0;

  /** Reads chunks as slowly as the client sends them; the state is saved once, at the end. */
  @EventHandler()
  async importSlowly(@EventUploadChunks() chunks: UploadChunkIterator, @EventUploadSignal() signal: AbortSignal, @Payload('run') run: string): Promise<void> {
    signal.addEventListener('abort', () => noteCancel(run, { reason: (signal.reason as Error)?.name }));
    try {
      for await (const chunk of chunks) {
        this.streamed += chunk.data.length;
        seen.streamed.set(run, (seen.streamed.get(run) ?? 0) + chunk.data.length);
      }
    } catch (error) {
      noteCancel(run, { loopThrew: (error as Error).name });
      throw error;
    }
  }

  /** A buffered handler that waits for its upload's cancellation, as long work that honours the signal would. */
  @EventHandler()
  async processUntilCancelled(@EventUploads() files: UploadFile[], @EventUploadSignal() signal: AbortSignal, @Payload('run') run: string): Promise<void> {
    seen.started.set(run, files.map((file) => file.path));
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    noteCancel(run, { reason: (signal.reason as Error)?.name });
    throw signal.reason;
  }

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    this.files += files.length;
  }

  /** A handler that fails: its upload ends with an error answer. */
  @EventHandler()
  refuse(@EventUploads() _files: UploadFile[]): void {
    throw new Error('This handler refuses every upload.');
  }

  /** Starts streaming: counts the file before reading it (as a handler that shows "importing…" would). */
  @EventHandler()
  async importCounted(@EventUploadChunks() chunks: UploadChunkIterator, @Payload('run') run: string): Promise<void> {
    seen.streamingStarted.push(run);
    this.files += 1;
    for await (const chunk of chunks) this.streamed += chunk.data.length;
  }

  /** A long event: the tab's queue waits behind it until the test releases it. */
  @EventHandler()
  async holdQueue(): Promise<void> {
    await new Promise<void>((resolve) => (seen.releaseQueue = resolve));
    seen.releaseQueue = undefined;
  }

  /** Records the upload's total as it was when this event ran: it runs after the upload, or its total is stale. */
  @EventHandler()
  rename(@Payload('note') note: string): void {
    this.note = `${note}:${this.streamed}`;
  }
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The JSON body of a response. */
async function jsonOf(response: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString());
}

/**
 * A multipart upload written by hand, `__reflex_event_args` then one file whose first bytes are `head`, left open:
 * `finish(rest)` sends the rest and ends it; `request.destroy()` is a client that goes away. `headers` are added to
 * the request's (an `X-Forwarded-For`, as a proxy would send it); `localAddress` is the client's own (another
 * loopback address, 127.0.0.2, is another client).
 */
function openUpload(baseUrl: string, handler: string, token: string, args: Record<string, unknown>, head: string, headers: Record<string, string> = {}, localAddress?: string): { request: ClientRequest; response: Promise<IncomingMessage>; finish(rest?: string): void } {
  const { port } = new URL(baseUrl);
  const request = httpRequest({
    host: '127.0.0.1',
    port,
    localAddress,
    method: 'POST',
    path: '/_upload',
    headers: { ...headers, 'Reflex-Client-Token': token, 'Reflex-Event-Handler': handler, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
  response.catch(() => undefined);
  request.write(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="__reflex_event_args"\r\n\r\n${JSON.stringify(args)}\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\n${head}`,
  );
  return {
    request,
    response,
    finish: (rest = '') => request.end(`${rest}\r\n--${BOUNDARY}--\r\n`),
  };
}

/** A whole one-file upload to `handler` (the `attach` handler unless told), by fetch; `headers` are added to its own. */
function uploadOne(baseUrl: string, token: string, headers: Record<string, string> = {}, handler = `${SLOW}.attach`): Promise<Response> {
  const form = new FormData();
  form.append('files', new Blob(['a']), 'a.txt');
  return fetch(`${baseUrl}/_upload`, { method: 'POST', headers: { ...headers, 'Reflex-Client-Token': token, 'Reflex-Event-Handler': handler }, body: form });
}

describeWithRedis('uploads longer than the Redis state lock\'s lifetime', () => {
  // Short enough that the upload outlasts it several times, long enough that a busy CI machine's event-loop stalls
  // between two renewals (every LOCK_MS / 3) cannot outlast it.
  const LOCK_MS = 2000;
  let redis: RedisTestServer;
  let raw: ReturnType<typeof createClient>;
  let a: RunningApp;
  let b: RunningApp;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    raw = createClient({ url: redis.url });
    raw.on('error', () => undefined);
    await raw.connect();
    // Two workers on one Redis; a short lock, and waiters on the other worker that wait long enough.
    const start = () =>
      startApp({
        imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url, stateStore: new RedisStateStore({ url: redis.url, lockTimeoutMs: LOCK_MS, acquireTimeoutMs: 60_000 }) })],
        providers: [SlowUploadState],
      });
    a = await start();
    b = await start();
  }, 60_000);

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (raw?.isOpen) raw.destroy();
    await redis?.destroy();
  });

  const connectToA = (): Promise<RawSocket> => RawSocket.hydrated(a.url, sockets);

  it('keeps the lock while a slow streaming upload runs: its state is saved, and an event sent meanwhile applies after it', async () => {
    const socket = await connectToA();
    const lockKey = `${RedisStateStore.DEFAULT_KEY_PREFIX}v2:{${socket.token}}:lock`;
    // The upload goes to worker B, the socket is on worker A: only the cluster-wide lock orders them.
    const upload = openUpload(b.url, `${SLOW}.importSlowly`, socket.token, { run: 'slow' }, 'a'.repeat(1000));
    await until(() => (seen.streamed.get('slow') ?? 0) === 1000, 'the first bytes to reach the handler');
    const holder = await raw.get(lockKey);
    expect(holder).not.toBeNull();
    // An event on the same token, on A, while B's handler holds the lock: it must wait for the upload.
    socket.send(`${SLOW}.rename`, { note: 'after' });
    // The client keeps the upload open for three lifetimes of the lock: without renewal the lock would expire,
    // A's event would run in between and B's final save would be refused.
    const openUntil = Date.now() + 3 * LOCK_MS;
    await until(async () => {
      expect(await raw.get(lockKey)).toBe(holder);
      return Date.now() > openUntil;
    }, 'three lock lifetimes to pass');
    expect(socket.latest(SLOW, 'note')).toBe('');
    upload.finish('b'.repeat(500));
    const answered = await upload.response;
    expect(answered.statusCode).toBe(202);
    expect(await jsonOf(answered)).toEqual({});
    // The upload's delta reaches the socket on A, then the waiting event runs on the saved state.
    await socket.untilVar(SLOW, 'streamed', 1500);
    await socket.untilVar(SLOW, 'note', 'after:1500');
    expect(socket.errors).toEqual([]);
    await socket.hydrate();
    expect(socket.latest(SLOW, 'streamed')).toBe(1500);
  });

  it('ends the upload with a structured state_lock_lost error when its lock is lost, and tells the tab', async () => {
    const socket = await connectToA();
    const lockKey = `${RedisStateStore.DEFAULT_KEY_PREFIX}v2:{${socket.token}}:lock`;
    const upload = openUpload(b.url, `${SLOW}.importSlowly`, socket.token, { run: 'lost' }, 'x'.repeat(100));
    await until(() => (seen.streamed.get('lost') ?? 0) === 100, 'the first bytes to reach the handler');
    // Someone else takes the lock over (what an expiry under a stalled worker looks like).
    await raw.set(lockKey, 'another-holder', { PX: 60_000 });
    const answered = await upload.response;
    expect(answered.statusCode).toBe(409);
    expect(await jsonOf(answered)).toMatchObject({ code: 'state_lock_lost' });
    upload.request.destroy();
    await until(() => seen.cancelled.get('lost')?.loopThrew !== undefined, 'the handler\'s loop to stop');
    expect(seen.cancelled.get('lost')).toEqual({ reason: 'BridgeError', loopThrew: 'UploadAbortedError' });
    await socket.until(() => socket.errors.some((error) => error.code === 'state_lock_lost'), DEFAULT_WAIT_MS, 'the bridge_error on the socket');
    // The other holder's lock was left alone; once it is gone the tab works again, without the lost upload's bytes.
    expect(await raw.get(lockKey)).toBe('another-holder');
    await raw.del(lockKey);
    socket.send(`${SLOW}.rename`, { note: 'later' });
    await socket.untilVar(SLOW, 'note', 'later:0');
  });
});

/**
 * An app with {@link SlowUploadState}, its uploads on `options` in a temp directory of its own, started before the
 * enclosing describe's tests and removed after them; the sockets its `connect` hydrated are closed after each test.
 */
function uploadsApp(name: string, options: { uploads?: Omit<UploadOptions, 'tempDirectory'>; trustProxy?: boolean }) {
  let running: RunningApp | undefined;
  let tempDirectory = '';
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();
  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), `${name}-`));
    running = await startApp(
      {
        imports: [ReflexBridgeModule.forRoot({ ...(options.trustProxy ? { bridge: { trustProxy: true } } : {}), uploads: { ...options.uploads, tempDirectory } })],
        providers: [SlowUploadState],
      },
      undefined,
      logger,
    );
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });
  const app = {
    get running(): RunningApp {
      if (!running) throw new Error('the app is not started yet');
      return running;
    },
    get tempDirectory(): string {
      return tempDirectory;
    },
    /** What the app logged. */
    logger,
    connect: (): Promise<RawSocket> => RawSocket.hydrated(app.running.url, sockets),
    /** The uploads in progress on the worker (`UploadRoute.inProgress`). */
    inProgress: (): number => app.running.app.get(UploadRoute).inProgress,
  };
  return app;
}

describe('an upload whose client goes away', () => {
  const app = uploadsApp('uploads-cancel-e2e', { uploads: { chunkQueueLength: 2 } });
  const { connect } = app;

  it('fires a running buffered handler\'s @EventUploadSignal(), removes its temp files and keeps serving', async () => {
    const socket = await connect();
    const upload = openUpload(app.running.url, `${SLOW}.processUntilCancelled`, socket.token, { run: 'buffered' }, 'some,rows\n');
    upload.finish();
    await until(() => seen.started.has('buffered'), 'the handler to start');
    const [tempFile] = seen.started.get('buffered')!;
    expect(existsSync(tempFile)).toBe(true);
    // The whole body was sent; the client leaves while the handler works.
    upload.request.destroy();
    await until(() => seen.cancelled.get('buffered')?.reason !== undefined, 'the handler\'s signal to fire');
    expect(seen.cancelled.get('buffered')).toEqual({ reason: 'UploadAbortedError' });
    await until(async () => (await readdir(app.tempDirectory)).length === 0, 'the temp files to go');
    // A cancellation is nobody's error: the tab is told nothing, its queue is free, and the server keeps serving.
    expect(socket.errors).toEqual([]);
    socket.send(`${SLOW}.rename`, { note: 'still here' });
    await socket.untilVar(SLOW, 'note', 'still here:0');
    const next = await uploadOne(app.running.url, socket.token);
    expect(next.status).toBe(200);
    await next.text();
    await socket.hydrate();
    expect(socket.latest(SLOW, 'files')).toBe(1);
  });

  for (const mode of ['buffered', 'streaming'] as const) {
    it(`${mode}: never runs the handler of an upload cancelled while it waited behind the tab's other events`, async () => {
      const socket = await connect();
      const handler = mode === 'buffered' ? `${SLOW}.attach` : `${SLOW}.importCounted`;
      // The tab is busy: the upload's handler has to wait for its turn.
      socket.send(`${SLOW}.holdQueue`, {});
      await until(() => seen.releaseQueue !== undefined, 'the long event to run');
      const pipeline = app.running.app.get(EventPipeline);
      const calls: UploadCall[] = [];
      const runUpload = pipeline.runUpload.bind(pipeline);
      const spy = jest.spyOn(pipeline, 'runUpload').mockImplementation((token, call) => {
        calls.push(call);
        return runUpload(token, call);
      });
      try {
        const upload = openUpload(app.running.url, handler, socket.token, { run: `queued-${mode}` }, 'a,b\n');
        upload.finish();
        await until(() => calls.length === 1, 'the upload to wait for its turn');
        // The user cancels the upload (the browser aborts it) while it waits.
        upload.request.destroy();
        await until(() => calls[0]!.cancel.signal.aborted, 'the server to see the upload cancelled');
        seen.releaseQueue!();
        // An event sent after the upload runs after it: by its answer, the upload's turn has passed.
        socket.send(`${SLOW}.rename`, { note: `after-${mode}` });
        await socket.untilVar(SLOW, 'note', `after-${mode}:0`);
        await socket.hydrate();
        expect(socket.latest(SLOW, 'files')).toBe(0);
        expect(seen.streamingStarted).not.toContain(`queued-${mode}`);
        expect(socket.errors).toEqual([]);
        await until(async () => (await readdir(app.tempDirectory)).length === 0, 'the temp files to go');
      } finally {
        spy.mockRestore();
      }
    });
  }

  it('fires a streaming handler\'s signal and throws UploadAbortedError into its loop', async () => {
    const socket = await connect();
    const upload = openUpload(app.running.url, `${SLOW}.importSlowly`, socket.token, { run: 'streaming' }, 'z'.repeat(10));
    await until(() => (seen.streamed.get('streaming') ?? 0) === 10, 'the first bytes to reach the handler');
    upload.request.destroy();
    await until(() => seen.cancelled.get('streaming')?.loopThrew !== undefined, 'the handler\'s loop to stop');
    expect(seen.cancelled.get('streaming')).toEqual({ reason: 'UploadAbortedError', loopThrew: 'UploadAbortedError' });
    expect(socket.errors).toEqual([]);
    socket.send(`${SLOW}.rename`, { note: 'again' });
    await socket.untilVar(SLOW, 'note', 'again:0');
  });
});

describe('an upload whose client stops sending mid-body', () => {
  // Small, so the test waits for the timeout itself rather than a fixed time.
  const IDLE_MS = 300;
  const app = uploadsApp('uploads-idle-e2e', { uploads: { idleTimeoutMs: IDLE_MS } });
  const { connect } = app;

  it('streaming: answers 408 upload_idle_timeout, stops the handler (signal and loop), closes the connection, and frees the tab at once', async () => {
    const socket = await connect();
    const upload = openUpload(app.running.url, `${SLOW}.importSlowly`, socket.token, { run: 'stalled' }, 'z'.repeat(10));
    upload.request.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => upload.request.once('close', () => resolve()));
    await until(() => (seen.streamed.get('stalled') ?? 0) === 10, 'the first bytes to reach the handler');
    // The client sends nothing more and stays connected: the handler holds the tab's lock until the timeout.
    socket.send(`${SLOW}.rename`, { note: 'waiting' });
    const answered = await upload.response;
    expect(answered.statusCode).toBe(408);
    expect(await jsonOf(answered)).toEqual({ detail: expect.stringContaining(`${IDLE_MS} ms`) as unknown, code: 'upload_idle_timeout', limit: IDLE_MS });
    // The server does not wait for the rest of a body that is not coming.
    await closed;
    expect(seen.cancelled.get('stalled')).toEqual({ reason: 'UploadError', loopThrew: 'UploadError' });
    // The event queued behind the upload ran as soon as it ended, on the state the failed upload did not change.
    await socket.untilVar(SLOW, 'note', 'waiting:0');
    socket.send(`${SLOW}.rename`, { note: 'next' });
    await socket.untilVar(SLOW, 'note', 'next:0');
    // As for an upload refused over a limit: the tab is told too (Reflex's own client only logs the answer's status).
    expect(socket.errors).toEqual([expect.objectContaining({ code: 'upload_idle_timeout', event: `${SLOW}.importSlowly`, status: 408 })]);
  });

  it('buffered: answers 408 upload_idle_timeout, removes the temp file, and the next upload works', async () => {
    const socket = await connect();
    const upload = openUpload(app.running.url, `${SLOW}.attach`, socket.token, {}, 'a,b\n'.repeat(100));
    upload.request.on('error', () => undefined);
    await until(async () => (await readdir(app.tempDirectory)).length > 0, 'the temp file to be written');
    const answered = await upload.response;
    expect(answered.statusCode).toBe(408);
    expect(await jsonOf(answered)).toMatchObject({ code: 'upload_idle_timeout', limit: IDLE_MS });
    await until(async () => (await readdir(app.tempDirectory)).length === 0, 'the temp files to go');
    upload.request.destroy();
    const next = await uploadOne(app.running.url, socket.token);
    expect(next.status).toBe(200);
    await next.text();
    await socket.hydrate();
    expect(socket.latest(SLOW, 'files')).toBe(1);
    expect(socket.errors).toEqual([expect.objectContaining({ code: 'upload_idle_timeout', event: `${SLOW}.attach`, status: 408 })]);
  });
});

describe('uploads past the worker\'s uploads.maxConcurrent', () => {
  const app = uploadsApp('uploads-busy-e2e', { uploads: { maxConcurrent: 1, idleTimeoutMs: 600_000 } });
  const { connect, inProgress } = app;
  // The held upload sends nothing while the test goes on: no idle timeout may free its slot on a slow machine.
  const attachOne = (token: string): Promise<Response> => uploadOne(app.running.url, token);

  it('refuses a new upload with 503 uploads_busy and Retry-After while the cap is reached; the upload in progress finishes and frees its slot', async () => {
    // Another tab's upload takes the worker's only slot.
    const other = await connect();
    const upload = openUpload(app.running.url, `${SLOW}.importSlowly`, other.token, { run: 'holding' }, 'q'.repeat(10));
    await until(() => (seen.streamed.get('holding') ?? 0) === 10, 'the first upload to be read');
    const socket = await connect();
    const refused = await attachOne(socket.token);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(await refused.json()).toEqual({ detail: expect.any(String) as unknown, code: 'uploads_busy', limit: 1 });
    // The upload in progress was not touched, and ends as usual.
    upload.finish('r'.repeat(5));
    const answered = await upload.response;
    expect(answered.statusCode).toBe(202);
    await jsonOf(answered);
    await until(() => inProgress() === 0, 'the slot to be released');
    const next = await attachOne(socket.token);
    expect(next.status).toBe(200);
    await next.text();
    await socket.hydrate();
    expect(socket.latest(SLOW, 'files')).toBe(1);
  });
  // Every way an upload ends gives its slot back: see the maxConcurrentPerAddress describe below (one count owns both).
});

/** Behind a proxy (`bridge.trustProxy`), each request says its client address in `X-Forwarded-For`. */
const HOSTILE = { 'X-Forwarded-For': '203.0.113.7' };
const OTHER_USER = { 'X-Forwarded-For': '198.51.100.1' };

describe('uploads past one address\'s uploads.maxConcurrentPerAddress', () => {
  // One slot more than one address may hold: without the per-address bound, its next upload takes the worker's
  // last slot and everyone else is refused. The stalled uploads must outlast the test, whatever the machine's load.
  const app = uploadsApp('uploads-per-address-e2e', { trustProxy: true, uploads: { maxConcurrent: 3, maxConcurrentPerAddress: 2, idleTimeoutMs: 600_000 } });
  const { connect, inProgress } = app;
  const stalled: ClientRequest[] = [];

  afterEach(async () => {
    for (const request of stalled.splice(0)) request.destroy();
    await until(() => inProgress() === 0, 'the stalled uploads to end');
  });

  /** An upload from `from` (or `localAddress`) that sends its first bytes and then nothing, as a slowloris does. */
  const stall = (token: string, from: Record<string, string>, localAddress?: string): ReturnType<typeof openUpload> => {
    const upload = openUpload(app.running.url, `${SLOW}.attach`, token, {}, 'a,b\n', from, localAddress);
    upload.request.on('error', () => undefined);
    stalled.push(upload.request);
    return upload;
  };

  it('refuses one address past its bound with 429 too_many_uploads, Retry-After and the connection closed, while another address still uploads', async () => {
    // One client, two tabs, holding its bound of uploads that never finish.
    const hostileTabs = [await connect(), await connect()];
    const held = hostileTabs.map((tab) => stall(tab.token, HOSTILE));
    await until(() => inProgress() === 2, 'the stalled uploads to take their slots');
    const refused = await uploadOne(app.running.url, hostileTabs[0]!.token, HOSTILE);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get('connection')).toBe('close');
    expect(await refused.json()).toEqual({ detail: expect.any(String) as unknown, code: 'too_many_uploads', limit: 2 });
    expect(inProgress()).toBe(2);

    // Another user on the same worker is not affected: the worker still has room for them.
    const user = await connect();
    const accepted = await uploadOne(app.running.url, user.token, OTHER_USER);
    expect(accepted.status).toBe(200);
    await accepted.text();
    await user.hydrate();
    expect(user.latest(SLOW, 'files')).toBe(1);

    // The stalled uploads were not touched; once one of them goes, its address may upload again.
    held[0]!.request.destroy();
    await until(() => inProgress() === 1, 'the ended upload to free its slot');
    const again = await uploadOne(app.running.url, hostileTabs[0]!.token, HOSTILE);
    expect(again.status).toBe(200);
    await again.text();
  });

  it('counts a body refused mid-way against its address while its rest is still read and dropped: another address still uploads', async () => {
    const tab = await connect();
    // Refused once a file has begun (the handler's arguments after it: 400), then the body goes on: its rest is read and
    // dropped, up to the body's bound, so that a browser can finish sending and read the answer.
    const refusedMidway = [0, 1].map(() => {
      const upload = stall(tab.token, HOSTILE);
      upload.request.write(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="__reflex_event_args"\r\n\r\n{}\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="more.csv"\r\n\r\nmore`);
      return upload;
    });
    for (const upload of refusedMidway) expect(await jsonOf(await upload.response)).toMatchObject({ code: 'upload_args_after_files' });
    // Before: both slots were free once answered, so one address could make the worker read about 1 GiB per connection
    // on as many connections as it liked (16 at once read 16.6 GiB in 32 s, every other upload 6 times slower).
    expect(inProgress()).toBe(2);
    const refused = await uploadOne(app.running.url, tab.token, HOSTILE);
    expect(refused.status).toBe(429);
    await refused.text();
    const user = await connect();
    const accepted = await uploadOne(app.running.url, user.token, OTHER_USER);
    expect(accepted.status).toBe(200);
    await accepted.text();
    // Once its bodies ended, the address uploads again.
    for (const upload of refusedMidway) upload.request.end(`\r\n--${BOUNDARY}--\r\n`);
    await until(() => inProgress() === 0, 'the refused bodies to end');
    const again = await uploadOne(app.running.url, tab.token, HOSTILE);
    expect(again.status).toBe(200);
    await again.text();
  });

  it('counts a client by the address the proxy saw, whatever it forged before it, and other addresses apart', async () => {
    const tab = await connect();
    // Entries before the proxy's own come from the client and are not trusted: both count as 203.0.113.7.
    stall(tab.token, HOSTILE);
    stall(tab.token, { 'X-Forwarded-For': '10.9.8.7, 203.0.113.7' });
    await until(() => inProgress() === 2, 'the stalled uploads to take their slots');
    const refused = await uploadOne(app.running.url, tab.token, { 'X-Forwarded-For': '192.0.2.55, 203.0.113.7' });
    expect(refused.status).toBe(429);
    await refused.text();
    const other = await uploadOne(app.running.url, tab.token, { 'X-Forwarded-For': '203.0.113.7, 198.51.100.1' });
    expect(other.status).toBe(200);
    await other.text();
  });

  it('logs a refused address a client wrote itself (bypassing the proxy) with its control characters escaped', async () => {
    const tab = await connect();
    // Node reads header bytes 0x80-0xff as latin1: NEL (0x85) is a line break to some log tools, CSI (0x9b) a terminal escape.
    const forged = { 'X-Forwarded-For': '203.0.113.9\x85[Nest] 1 - LOG [Auth] admin logged in\x9b2K' };
    stall(tab.token, forged);
    stall(tab.token, forged);
    await until(() => inProgress() === 2, 'the stalled uploads to take their slots');
    const refused = await uploadOne(app.running.url, tab.token, forged);
    expect(refused.status).toBe(429);
    await refused.text();
    const line = app.logger.lines.find((entry) => entry.message.startsWith('Refusing uploads from 203.0.113.9'));
    expect(line?.message).toContain('203.0.113.9\\u0085[Nest]');
    expect(line?.message).not.toMatch(/[\u0080-\u009f]/);
  });

  it('counts a request without X-Forwarded-For by its peer address: 127.0.0.2 past its bound is refused, 127.0.0.1 still uploads', async () => {
    const tab = await connect();
    stall(tab.token, {}, '127.0.0.2');
    stall(tab.token, {}, '127.0.0.2');
    await until(() => inProgress() === 2, 'the stalled uploads to take their slots');
    const third = openUpload(app.running.url, `${SLOW}.attach`, tab.token, {}, 'a,b\n', {}, '127.0.0.2');
    third.finish();
    const refused = await third.response;
    expect(refused.statusCode).toBe(429);
    expect(await jsonOf(refused)).toMatchObject({ code: 'too_many_uploads', limit: 2 });
    const other = await uploadOne(app.running.url, tab.token);
    expect(other.status).toBe(200);
    await other.text();
  });
});

describe('uploads.maxConcurrentPerAddress on every way an upload ends', () => {
  const IDLE_MS = 300;
  // One upload per address: a slot an ended upload did not give back refuses that address's next upload.
  const app = uploadsApp('uploads-per-address-end-e2e', { trustProxy: true, uploads: { maxConcurrentPerAddress: 1, idleTimeoutMs: IDLE_MS } });
  const { connect, inProgress } = app;

  it('gives the address its slot back when the upload is answered: its uploads one after another all go through', async () => {
    const tab = await connect();
    for (let i = 0; i < 3; i++) {
      const answered = await uploadOne(app.running.url, tab.token, HOSTILE);
      expect(answered.status).toBe(200);
      await answered.text();
      await until(() => inProgress() === 0, 'the slot to be released');
    }
  });

  it('gives the address its slot back when the handler fails', async () => {
    const tab = await connect();
    const failed = await uploadOne(app.running.url, tab.token, HOSTILE, `${SLOW}.refuse`);
    expect(failed.status).toBe(500);
    await failed.text();
    await until(() => inProgress() === 0, 'the slot to be released');
    const next = await uploadOne(app.running.url, tab.token, HOSTILE);
    expect(next.status).toBe(200);
    await next.text();
  });

  for (const end of ['the client goes away', 'the client stalls past idleTimeoutMs', 'the form is refused'] as const) {
    it(`gives the address its slot back when ${end}`, async () => {
      const tab = await connect();
      const upload = openUpload(app.running.url, `${SLOW}.attach`, tab.token, {}, 'a,b\n', HOSTILE);
      upload.request.on('error', () => undefined);
      // A stalled upload may time out before a poll sees it in progress: its 408 is the proof it held the slot.
      if (end !== 'the client stalls past idleTimeoutMs') await until(() => inProgress() === 1, 'the upload to take the slot');
      if (end === 'the client goes away') upload.request.destroy();
      else if (end === 'the form is refused') upload.request.end(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="__reflex_event_args"\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`);
      else expect((await upload.response).statusCode).toBe(408);
      await until(() => inProgress() === 0, 'the slot to be released');
      upload.request.destroy();
      const next = await uploadOne(app.running.url, tab.token, HOSTILE);
      expect(next.status).toBe(200);
      await next.text();
      await until(async () => (await readdir(app.tempDirectory)).length === 0, 'the temp files to go');
    });
  }
});

describe('uploads past the worker\'s temp disk, uploads.maxTempBytes', () => {
  // Held uploads send nothing while the test goes on: no idle timeout may end them on a slow machine.
  const app = uploadsApp('uploads-temp-disk-e2e', { uploads: { maxTempBytes: 1000, idleTimeoutMs: 600_000 } });
  const { connect } = app;

  /** Bytes of files in the temp directory now. */
  const tempBytes = async (): Promise<number> => {
    let bytes = 0;
    for (const entry of await readdir(app.tempDirectory, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) bytes += (await stat(join(entry.parentPath, entry.name))).size;
    }
    return bytes;
  };

  it('refuses the upload that would pass it with 507 upload_storage_full and tells its tab; once the other upload ended, it goes through', async () => {
    const holder = await connect();
    const held = openUpload(app.running.url, `${SLOW}.attach`, holder.token, {}, 'h'.repeat(800));
    await until(async () => (await tempBytes()) === 800, 'the first upload to hold 800 bytes on disk');
    const tab = await connect();
    const form = (): FormData => {
      const data = new FormData();
      data.append('files', new Blob(['p'.repeat(300)]), 'photo.bin');
      return data;
    };
    const send = (): Promise<Response> => fetch(`${app.running.url}/_upload`, { method: 'POST', headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${SLOW}.attach` }, body: form() });
    const refused = await send();
    expect(refused.status).toBe(507);
    // Room comes back as uploads end: the client is told when to send it again. Before: no Retry-After.
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toEqual({ detail: expect.any(String) as unknown, code: 'upload_storage_full', limit: 1000 });
    await tab.until(() => tab.errors.length === 1, DEFAULT_WAIT_MS, 'the tab to be told');
    expect(tab.errors[0]).toMatchObject({ code: 'upload_storage_full', event: `${SLOW}.attach`, status: 507 });
    // Nothing of the refused upload stayed; the upload in progress was not touched.
    expect(await tempBytes()).toBe(800);
    held.finish('h'.repeat(100));
    expect((await held.response).statusCode).toBe(200);
    await until(async () => (await readdir(app.tempDirectory)).length === 0, 'the temp files to go');
    const accepted = await send();
    expect(accepted.status).toBe(200);
    await accepted.text();
    await tab.hydrate();
    expect(tab.latest(SLOW, 'files')).toBe(1);
  });
});

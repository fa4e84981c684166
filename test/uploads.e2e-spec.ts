import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, UnauthorizedException, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { Throttle } from '@nestjs/throttler';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventHandler, EventUploadChunks, EventUploads, EventUser, Payload, ReflexBridgeModule, State, UploadAbortedError, serverEvent, toast,
  type UploadChunkIterator, type UploadFile,
} from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { startApp, type RunningApp } from './support/app.js';
import { expectPipeliningHoldsNoFiles } from './support/pipelining-client.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const ROOT = 'reflex___state____state';
const PHOTO = 'reflex___state____state.photo_state';
const AVATAR = 'reflex___state____state.avatar_state';
const DEFAULT_WAIT_MS = 20_000;

/** What the handlers and the auth middleware saw, for the assertions (module-level: handlers run on views). */
const seen = {
  /** Per buffered upload: each file's name, size, content type, contents and temp path. */
  files: [] as Array<{ name: string; size: number; contentType: string; text: string; path: string }>,
  /** The cookie header of each request the auth middleware ran on, and whether it was a bridged (synthetic) one. */
  auth: [] as Array<{ cookie: string | undefined; synthetic: boolean }>,
  /** Chunks a streaming handler received. */
  chunks: [] as Array<{ filename: string; offset: number; size: number }>,
  /** Streaming handlers that saw the client go away. */
  aborted: [] as string[],
  /** Avatar uploads that reached their handler. */
  avatars: [] as string[],
};

/** The app's auth middleware: a `user=<name>` cookie logs in (enough to test that the upload's real cookies reach it). */
const auth: RequestHandler = (req, res, next) => {
  const cookie = req.headers.cookie;
  seen.auth.push({ cookie, synthetic: (req as { isReflexEvent?: boolean }).isReflexEvent === true });
  if (cookie?.includes('banned=1')) {
    // The middleware answers by itself, on whatever response it was given.
    res.statusCode = 403;
    res.end('banned');
    return;
  }
  const user = /(?:^|;\s*)user=(\w+)/.exec(cookie ?? '')?.[1];
  if (user) (req as { user?: unknown }).user = { name: user };
  next();
};

@Injectable()
class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (!context.switchToHttp().getRequest<{ user?: unknown }>().user) throw new UnauthorizedException('Please log in first.');
    return true;
  }
}

@State()
class PhotoState {
  names: string[] = [];
  note = '';
  steps = 0;
  streamed = 0;

  @EventHandler()
  async attach(@EventUploads() files: UploadFile[], @Payload('note') note: string): Promise<unknown> {
    for (const file of files) {
      seen.files.push({ name: file.name, size: file.size, contentType: file.contentType, text: await readFile(file.path, 'utf8'), path: file.path });
    }
    this.names = files.map((file) => file.name);
    this.note = note;
    return toast(`${files.length} files attached`);
  }

  /** Hands the rest to an event of its own, which runs after the upload. */
  @EventHandler()
  attachLater(@EventUploads() files: UploadFile[]): unknown {
    this.names = files.map((file) => file.name);
    return serverEvent(PhotoState, 'countFollowUp');
  }

  followUps = 0;

  @EventHandler()
  countFollowUp(): void {
    this.followUps += 1;
  }

  /** Two steps: two delta lines in the answer. */
  @EventHandler()
  async *attachInSteps(@EventUploads() files: UploadFile[]): AsyncGenerator<void> {
    this.steps = 1;
    yield;
    this.steps = files.length + 1;
  }

  @EventHandler()
  async importRows(@EventUploadChunks() chunks: UploadChunkIterator): Promise<void> {
    try {
      for await (const chunk of chunks) {
        seen.chunks.push({ filename: chunk.filename, offset: chunk.offset, size: chunk.data.length });
        this.streamed += chunk.data.length;
      }
    } catch (error) {
      if (error instanceof UploadAbortedError) seen.aborted.push('importRows');
      throw error;
    }
  }

  /** Wraps whatever its loop throws in an error of its own, as an app that adds context would. */
  @EventHandler()
  async importWrapped(@EventUploadChunks() chunks: UploadChunkIterator): Promise<void> {
    try {
      for await (const chunk of chunks) this.streamed += chunk.data.length;
    } catch (error) {
      throw new Error(`import failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Imports, then tells the user how much (a toast, over the tab's socket). */
  @EventHandler()
  async importAndTell(@EventUploadChunks() chunks: UploadChunkIterator): Promise<unknown> {
    for await (const chunk of chunks) {
      seen.chunks.push({ filename: chunk.filename, offset: chunk.offset, size: chunk.data.length });
      this.streamed += chunk.data.length;
    }
    return toast(`imported ${this.streamed} bytes`);
  }

  /** Checks the file's first bytes, as an import that only takes CSV with a header would, and refuses anything else. */
  @EventHandler()
  async importChecked(@EventUploadChunks() chunks: UploadChunkIterator): Promise<void> {
    for await (const chunk of chunks) {
      if (chunk.offset === 0 && !chunk.data.toString().startsWith('id,')) throw new Error('not a CSV with a header');
      this.streamed += chunk.data.length;
    }
  }

  /** Fails after its first step. */
  @EventHandler()
  async *attachThenFail(@EventUploads() files: UploadFile[]): AsyncGenerator<void> {
    this.steps = files.length;
    yield;
    throw new Error('the disk is full');
  }

  @EventHandler()
  async attachNothing(@EventUploads() _files: UploadFile[]): Promise<void> {
    throw new Error('refused by the app');
  }

  @EventHandler()
  @Throttle({ default: { limit: 1, ttl: 60_000 } })
  attachOnce(@EventUploads() files: UploadFile[]): void {
    this.names = files.map((file) => file.name);
  }

  @EventHandler()
  rename(@Payload('note') note: string): void {
    this.note = note;
  }
}

@State()
@UseGuards(LoggedInGuard)
class AvatarState {
  avatar = '';

  @EventHandler()
  setAvatar(@EventUploads() files: UploadFile[], @EventUser() user: { name: string }): void {
    seen.avatars.push(user.name);
    this.avatar = `${user.name}:${files[0]?.name ?? ''}`;
  }
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Everything left in the upload temp directory (the parser puts each buffered upload in its own folder). */
async function leftovers(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { recursive: true })) found.push(String(entry));
  return found;
}

/** A form: `__reflex_event_args` first when given, then the files. */
function form(files: Array<{ name: string; text: string; type?: string }>, args?: unknown): FormData {
  const data = new FormData();
  if (args !== undefined) data.append('__reflex_event_args', typeof args === 'string' ? args : JSON.stringify(args));
  for (const file of files) data.append('files', new Blob([file.text], { type: file.type ?? 'text/plain' }), file.name);
  return data;
}

describe('POST /_upload', () => {
  let running: RunningApp;
  let tempDirectory: string;
  const sockets: RawSocket[] = [];

  const upload = (handler: string | undefined, token: string | undefined, body: FormData, headers: Record<string, string> = {}) =>
    fetch(`${running.url}/_upload`, {
      method: 'POST',
      headers: { ...(token ? { 'Reflex-Client-Token': token } : {}), ...(handler ? { 'Reflex-Event-Handler': handler } : {}), ...headers },
      body,
    });

  const connect = (): Promise<RawSocket> => RawSocket.hydrated(running.url, sockets);

  const BOUNDARY = 'xBoundaryx';

  /** A multipart upload request by hand, its headers sent and nothing of its body yet; `headers` are added. */
  const rawUpload = (handler: string, token: string, headers: Record<string, string>): { request: ClientRequest; response: Promise<IncomingMessage> } => {
    const { port } = new URL(running.url);
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/_upload',
      headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': handler, 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, ...headers },
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
    });
    response.catch(() => undefined);
    return { request, response };
  };

  /** A multipart request written by hand, left open: what a slow or vanishing client looks like. */
  const openUpload = (handler: string, token: string, head: string, headers: Record<string, string> = {}): { request: ClientRequest; response: Promise<IncomingMessage> } => {
    const upload = rawUpload(handler, token, headers);
    upload.request.write(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n${head}`);
    return upload;
  };

  /**
   * An upload that sends its body only once the server answered `100 Continue`, as curl does for files over 1 MB:
   * whether that came before the final answer, and the answer.
   */
  const uploadAfterContinue = async (handler: string, token: string): Promise<{ continued: boolean; status: number | undefined; text: string }> => {
    const args = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="__reflex_event_args"\r\n\r\n{"note":"late"}\r\n`;
    const body = `${args}--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="late.txt"\r\nContent-Type: text/plain\r\n\r\nlate bytes\r\n--${BOUNDARY}--\r\n`;
    const { request, response } = rawUpload(handler, token, { 'Content-Length': String(Buffer.byteLength(body)), Expect: '100-continue' });
    let continued = false;
    request.once('continue', () => {
      continued = true;
      request.end(body);
    });
    request.flushHeaders();
    const answered = await response;
    const chunks: Buffer[] = [];
    for await (const chunk of answered) chunks.push(chunk as Buffer);
    request.destroy();
    return { continued, status: answered.statusCode, text: Buffer.concat(chunks).toString() };
  };

  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-e2e-'));
    running = await startApp({
      imports: [
        ReflexBridgeModule.forRoot({
          bridge: { mode: 'smart', authMiddleware: [auth] },
          uploads: { tempDirectory, maxFileBytes: 64 * 1024, maxFiles: 3, maxEventArgsBytes: 256, chunkQueueLength: 2 },
        }),
      ],
      providers: [PhotoState, AvatarState, LoggedInGuard],
    });
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });

  it('leaves the page’s router var alone when an event the upload handler returned runs (an upload names no page)', async () => {
    const socket = await connect();
    const router = socket.latest(ROOT, 'router');
    const before = socket.updates.length;
    const response = await upload(`${PHOTO}.attachLater`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(response.status).toBe(200);
    // The returned event's delta is a line of the answer when it ran before the answer ended, else on the socket.
    const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta?: Record<string, Record<string, unknown>> });
    const deltas = () => [...lines, ...socket.updates.slice(before)].map((update) => update.delta ?? {});
    await socket.until(() => deltas().some((delta) => delta[PHOTO]?.['followUps_rx_state_'] === 1), DEFAULT_WAIT_MS, 'the returned event');
    expect(deltas().filter((delta) => delta[ROOT]?.['router_rx_state_'] !== undefined)).toEqual([]);
    expect(socket.latest(ROOT, 'router')).toEqual(router);
  });

  it('buffered: the handler gets the files and its args, its deltas stream back as NDJSON and stay in the state', async () => {
    const socket = await connect();
    const response = await upload(`${PHOTO}.attach`, socket.token, form([{ name: 'photos/../cat.txt', text: 'meow' }, { name: 'C:\\docs\\a.txt', text: 'aa', type: 'text/html' }], { note: 'hello' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>>; events: unknown[]; final: boolean });
    expect(lines.at(-1)).toEqual({ delta: {}, events: [], final: true });
    expect(lines.slice(0, -1)).toEqual([{ delta: { [PHOTO]: { names_rx_state_: ['photos/cat.txt', 'a.txt'], note_rx_state_: 'hello' } }, events: [], final: false }]);
    expect(seen.files.slice(-2).map(({ name, size, contentType, text }) => ({ name, size, contentType, text }))).toEqual([
      { name: 'photos/cat.txt', size: 4, contentType: 'text/plain', text: 'meow' },
      { name: 'a.txt', size: 2, contentType: 'text/html', text: 'aa' },
    ]);
    // The toast the handler returned went over the socket; the delta did not (it was in the answer).
    await socket.until(() => socket.updates.some((update) => update.events?.some((event) => JSON.stringify(event).includes('2 files attached'))), DEFAULT_WAIT_MS, 'the toast');
    expect(socket.updates.some((update) => update.delta?.[PHOTO]?.['note_rx_state_'] === 'hello')).toBe(false);
    // Temp files are gone once the handler ended.
    await until(async () => (await leftovers(tempDirectory)).length === 0, 'the temp files to go');
    // `..` segments are dropped, not followed, and a path with a drive keeps only its last part (as Reflex does). The state holds what the upload did: a later hydrate shows it.
    await socket.hydrate();
    expect(socket.latest(PHOTO, 'note')).toBe('hello');
    expect(socket.latest(PHOTO, 'names')).toEqual(['photos/cat.txt', 'a.txt']);
    // The auth middleware ran on the upload's own request (not a synthetic one).
    expect(seen.auth.some((entry) => !entry.synthetic)).toBe(true);
  });

  it('buffered: a streaming handler sends one line per step', async () => {
    const socket = await connect();
    const response = await upload(`${PHOTO}.attachInSteps`, socket.token, form([{ name: 'a.txt', text: 'a' }, { name: 'b.txt', text: 'b' }]));
    expect(response.status).toBe(200);
    const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { delta: Record<string, Record<string, unknown>>; final: boolean });
    expect(lines.map((line) => [line.delta[PHOTO]?.['steps_rx_state_'], line.final])).toEqual([[1, false], [3, false], [undefined, true]]);
  });

  it('streaming: chunks reach the handler as they arrive, 202 {} at the end, deltas over the socket', async () => {
    const socket = await connect();
    const before = seen.chunks.length;
    const big = 'x'.repeat(40 * 1024);
    const response = await upload(`${PHOTO}.importRows`, socket.token, form([{ name: 'rows.csv', text: big }, { name: 'empty.csv', text: '' }]));
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('{}\n');
    const chunks = seen.chunks.slice(before);
    expect(chunks.filter((chunk) => chunk.filename === 'rows.csv').reduce((sum, chunk) => sum + chunk.size, 0)).toBe(big.length);
    expect(chunks.at(-1)).toEqual({ filename: 'empty.csv', offset: 0, size: 0 });
    await socket.untilVar(PHOTO, 'streamed', big.length);
  });

  it('answers a request without either header with Reflex\'s 400', async () => {
    const socket = await connect();
    // An empty token is as good as none (the event channel's `no_token`, answered here in Reflex's words).
    for (const [handler, token] of [[undefined, socket.token], [`${PHOTO}.attach`, undefined], [undefined, undefined], [`${PHOTO}.attach`, '']] as const) {
      const response = await upload(handler, token, form([{ name: 'a.txt', text: 'a' }]), token === '' ? { 'Reflex-Client-Token': '' } : {});
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ detail: 'Missing reflex-client-token or reflex-event-handler header.', code: 'upload_headers_missing' });
    }
  });

  it('names the header that is longer than anything it may hold, instead of calling it missing', async () => {
    // A 10,000-character token was answered "Missing reflex-client-token or reflex-event-handler header." although
    // both were sent.
    const socket = await connect();
    const tooLongToken = await upload(`${PHOTO}.attach`, 'x'.repeat(10_000), form([{ name: 'a.txt', text: 'a' }]));
    expect(tooLongToken.status).toBe(400);
    expect(await tooLongToken.json()).toEqual({
      detail: 'The reflex-client-token header has 10000 characters: a client token has 8 to 128 letters, digits, "-" or "_".',
      code: 'upload_headers_missing',
    });
    const tooLongName = await upload(`${PHOTO}.${'a'.repeat(600)}`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(tooLongName.status).toBe(400);
    expect(await tooLongName.json()).toEqual({
      detail: `The reflex-event-handler header has ${PHOTO.length + 601} characters: a handler's full name has at most 512.`,
      code: 'upload_headers_missing',
    });
  });

  it('refuses unknown handlers, handlers without an upload parameter, unknown tokens and non-multipart bodies', async () => {
    const socket = await connect();
    const unknown = await upload(`${PHOTO}.nope`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'upload_not_accepted' });
    const plain = await upload(`${PHOTO}.rename`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(plain.status).toBe(404);
    expect(await plain.json()).toMatchObject({ code: 'upload_not_accepted', detail: expect.stringContaining('takes no upload') });
    const stranger = await upload(`${PHOTO}.attach`, '0f0e7c2a-5b7e-4a43-9a0e-000000000000', form([{ name: 'a.txt', text: 'a' }], { note: 'x' }));
    expect(stranger.status).toBe(410);
    expect(await stranger.json()).toMatchObject({ code: 'unknown_token' });
    const json = await fetch(`${running.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${PHOTO}.attach`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
    // An upload handler takes nothing over the socket.
    socket.send(`${PHOTO}.attach`, { note: 'x' });
    await socket.until(() => socket.errors.length === 1);
    expect(socket.errors[0]).toMatchObject({ code: 'invalid_payload', event: `${PHOTO}.attach` });
  });

  it('runs the tier on the upload\'s own request: a logged-out upload to a login-guarded handler is refused before its body is read', async () => {
    const socket = await connect();
    const filesBefore = seen.files.length;
    // The body never ends: only a refusal that does not wait for it can answer.
    const { request, response } = openUpload(`${AVATAR}.setAvatar`, socket.token, 'some,bytes\n');
    const refused = await response;
    expect(refused.statusCode).toBe(401);
    const chunks: Buffer[] = [];
    for await (const chunk of refused) chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ detail: 'Please log in first.', code: 'unauthorized' });
    request.destroy();
    expect(seen.avatars).toEqual([]);
    expect(seen.files.length).toBe(filesBefore);
    expect(await leftovers(tempDirectory)).toEqual([]);

    // With the session cookie, the same upload goes through, and the guard and handler see the user.
    const accepted = await upload(`${AVATAR}.setAvatar`, socket.token, form([{ name: 'me.png', text: 'png' }]), { Cookie: 'user=alice' });
    expect(accepted.status).toBe(200);
    await accepted.text();
    expect(seen.avatars).toEqual(['alice']);
    expect(seen.auth.some((entry) => entry.cookie === 'user=alice' && !entry.synthetic)).toBe(true);
    // The anonymous socket was dropped (the browser's session is alice's now); the tab reconnects with its cookies.
    await socket.until(() => !socket.socket.connected, undefined, 'the anonymous socket to be dropped');
    const again = new RawSocket(running.url, socket.token, { headers: { cookie: 'user=alice' } });
    sockets.push(again);
    await again.connected();
    await again.hydrate();
    expect(again.latest(AVATAR, 'avatar')).toBe('alice:me.png');
  });

  it('lets the tier\'s middleware answer the upload itself, before its body is read', async () => {
    const socket = await connect();
    const { request, response } = openUpload(`${PHOTO}.attach`, socket.token, 'some bytes', { Cookie: 'banned=1' });
    const answered = await response;
    expect(answered.statusCode).toBe(403);
    const chunks: Buffer[] = [];
    for await (const chunk of answered) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('banned');
    request.destroy();
    expect(await leftovers(tempDirectory)).toEqual([]);
  });

  it('answers each limit with 413 and the limit, and keeps nothing on disk', async () => {
    const socket = await connect();
    const tooBig = await upload(`${PHOTO}.attach`, socket.token, form([{ name: 'big.txt', text: 'x'.repeat(64 * 1024 + 1) }], { note: 'x' }));
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ code: 'upload_too_large', limit: 64 * 1024 });
    const tooMany = await upload(`${PHOTO}.attach`, socket.token, form([1, 2, 3, 4].map((n) => ({ name: `${n}.txt`, text: 'n' })), { note: 'x' }));
    expect(tooMany.status).toBe(413);
    expect(await tooMany.json()).toMatchObject({ code: 'upload_too_many_files', limit: 3 });
    const bigArgs = await upload(`${PHOTO}.attach`, socket.token, form([{ name: 'a.txt', text: 'a' }], { note: 'n'.repeat(300) }));
    expect(bigArgs.status).toBe(413);
    expect(await bigArgs.json()).toMatchObject({ code: 'upload_args_too_large', limit: 256 });
    const streamedTooBig = await upload(`${PHOTO}.importRows`, socket.token, form([{ name: 'big.csv', text: 'x'.repeat(64 * 1024 + 1) }]));
    expect(streamedTooBig.status).toBe(413);
    expect(await streamedTooBig.json()).toMatchObject({ code: 'upload_too_large', limit: 64 * 1024 });
    await until(async () => (await leftovers(tempDirectory)).length === 0, 'the temp files to go');
    // Reflex's own client only logs a failed upload's status: the tab is also told, as for a refused event.
    await socket.until(() => socket.errors.length === 4, undefined, 'the four refusals on the socket');
    expect(socket.errors).toEqual([
      expect.objectContaining({ code: 'upload_too_large', event: `${PHOTO}.attach`, status: 413 }),
      expect.objectContaining({ code: 'upload_too_many_files', event: `${PHOTO}.attach`, status: 413 }),
      expect.objectContaining({ code: 'upload_args_too_large', event: `${PHOTO}.attach`, status: 413 }),
      expect.objectContaining({ code: 'upload_too_large', event: `${PHOTO}.importRows`, status: 413 }),
    ]);
    const toasts = socket.updates.flatMap((update) => update.events ?? []).filter((event) => event.payload['bridge_error'] !== undefined);
    expect(toasts.map((event) => (event.payload['bridge_error'] as { code: string }).code)).toEqual(['upload_too_large', 'upload_too_many_files', 'upload_args_too_large', 'upload_too_large']);
    await socket.hydrate();
    expect(socket.latest(PHOTO, 'names')).toEqual([]);
  });

  it('cancels a streaming handler when the client goes away mid-upload', async () => {
    const socket = await connect();
    const before = seen.chunks.length;
    const { request } = openUpload(`${PHOTO}.importRows`, socket.token, 'first,row\n');
    await until(() => seen.chunks.length > before, 'the first chunk to reach the handler');
    request.destroy();
    await until(() => seen.aborted.length === 1, 'the handler to see the client go');
    // Nothing was reported to the tab: nobody is left to answer, and the tab did nothing wrong.
    expect(socket.errors).toEqual([]);
    // The token's queue is free again: a later event runs.
    socket.send(`${PHOTO}.rename`, { note: 'after' });
    await socket.untilVar(PHOTO, 'note', 'after');
  });

  it('streaming: a handler that fails on the first chunk is answered at once, not once the rest of a big file arrived', async () => {
    const socket = await connect();
    const { request, response } = openUpload(`${PHOTO}.importChecked`, socket.token, 'not,a,header\n');
    let answered: IncomingMessage | undefined;
    void response.then((message) => (answered = message));
    try {
      // The client is still sending (the request stays open): the user hears of the failure now.
      await until(() => answered !== undefined, 'the answer while the client still sends');
    } finally {
      if (answered === undefined) request.destroy();
    }
    expect(answered!.statusCode).toBe(500);
    const chunks: Buffer[] = [];
    for await (const chunk of answered!) chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ code: 'handler_error', detail: 'Error: not a CSV with a header' });
    await socket.until(() => socket.errors.some((error) => error.event === `${PHOTO}.importChecked`), DEFAULT_WAIT_MS, 'the bridge_error');
    expect(request.writableEnded).toBe(false);
    // The rest of the body is read and dropped; the tab's queue is free meanwhile.
    request.end('more,rows\r\n--xBoundaryx--\r\n');
    socket.send(`${PHOTO}.rename`, { note: 'after the refused import' });
    await socket.untilVar(PHOTO, 'note', 'after the refused import');
    expect(socket.latest(PHOTO, 'streamed')).toBe(0);
  });

  it('streaming: a limit passed is answered with its 413 even when the handler wraps what its loop threw', async () => {
    const socket = await connect();
    const response = await upload(`${PHOTO}.importWrapped`, socket.token, form([{ name: 'huge.csv', text: 'x'.repeat(64 * 1024 + 1) }]));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'upload_too_large', limit: 64 * 1024 });
  });

  it('streaming: a tab that reconnected during a long upload gets what its handler sends at the end', async () => {
    const first = await connect();
    const before = seen.chunks.length;
    const { request } = openUpload(`${PHOTO}.importAndTell`, first.token, 'first,row\n');
    await until(() => seen.chunks.length > before, 'the first chunk to reach the handler');
    // The network blips: the tab's socket drops and Reflex's client reconnects with the same token.
    first.close();
    const again = new RawSocket(running.url, first.token);
    sockets.push(again);
    await again.connected();
    const gateway = running.app.get(EventGateway);
    await until(() => gateway.clientFor(first.token)?.sid === again.socket.id, 'the server to take the new socket');
    request.end('second,row\r\n--xBoundaryx--\r\n');
    const toastOf = (update: { events?: Array<{ payload: Record<string, unknown> }> }) => update.events?.some((event) => JSON.stringify(event).includes('imported 20 bytes'));
    await again.until(() => again.updates.some(toastOf), DEFAULT_WAIT_MS, 'the toast on the new socket');
    await again.untilVar(PHOTO, 'streamed', 20);
  });

  it('leaves no temp file when the client goes away during a buffered upload', async () => {
    const socket = await connect();
    const { request } = openUpload(`${PHOTO}.attach`, socket.token, 'y'.repeat(16 * 1024));
    await until(async () => (await leftovers(tempDirectory)).length > 0, 'the upload to reach the disk');
    request.destroy();
    await until(async () => (await leftovers(tempDirectory)).length === 0, 'the temp files to go');
    socket.send(`${PHOTO}.rename`, { note: 'still here' });
    await socket.untilVar(PHOTO, 'note', 'still here');
  });

  it('reports a failing handler: a proper status before any line, the error on the final line after one, a bridge_error on the socket', async () => {
    const socket = await connect();
    const early = await upload(`${PHOTO}.attachNothing`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(early.status).toBe(500);
    expect(await early.json()).toEqual({ code: 'handler_error', detail: 'Error: refused by the app' });
    const late = await upload(`${PHOTO}.attachThenFail`, socket.token, form([{ name: 'a.txt', text: 'a' }, { name: 'b.txt', text: 'b' }]));
    expect(late.status).toBe(200);
    const lines = (await late.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      { delta: { [PHOTO]: { steps_rx_state_: 2 } }, events: [], final: false },
      { delta: {}, events: [], final: true, error: { code: 'handler_error', message: 'Error: the disk is full', event: `${PHOTO}.attachThenFail` } },
    ]);
    await socket.until(() => socket.errors.length === 2);
    expect(socket.errors.map((error) => error.event)).toEqual([`${PHOTO}.attachNothing`, `${PHOTO}.attachThenFail`]);
    await until(async () => (await leftovers(tempDirectory)).length === 0, 'the temp files to go');
  });

  it('tells a client that waits for 100 Continue to send its body only once the upload\'s checks passed', async () => {
    const socket = await connect();
    const filesBefore = seen.files.length;
    // Refused by the tier (a login-guarded handler, no session) and for an unknown token: the body is never asked for.
    expect(await uploadAfterContinue(`${AVATAR}.setAvatar`, socket.token)).toEqual({ continued: false, status: 401, text: expect.stringContaining('unauthorized') });
    expect(await uploadAfterContinue(`${PHOTO}.attach`, '0f0e7c2a-5b7e-4a43-9a0e-000000000000')).toEqual({ continued: false, status: 410, text: expect.stringContaining('unknown_token') });
    expect(seen.files.length).toBe(filesBefore);
    // Accepted: 100 Continue, then the body reaches the handler.
    const accepted = await uploadAfterContinue(`${PHOTO}.attach`, socket.token);
    expect(accepted).toMatchObject({ continued: true, status: 200, text: expect.stringContaining('"final":true') });
    expect(seen.files.slice(filesBefore)).toEqual([expect.objectContaining({ name: 'late.txt', text: 'late bytes' })]);
    // Other routes still get Node's own 100 Continue at once.
    const { port } = new URL(running.url);
    const ping = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/ping', headers: { 'Content-Length': '2', Expect: '100-continue' } });
    const pingContinued = new Promise<boolean>((resolve) => {
      ping.once('continue', () => resolve(true));
      ping.once('response', () => resolve(false));
      ping.once('error', () => resolve(false));
    });
    ping.flushHeaders();
    expect(await pingContinued).toBe(true);
    ping.destroy();
  });

  it('counts uploads against the handler\'s @Throttle limits, refusing before the body', async () => {
    const socket = await connect();
    const first = await upload(`${PHOTO}.attachOnce`, socket.token, form([{ name: 'a.txt', text: 'a' }]));
    expect(first.status).toBe(200);
    await first.text();
    const second = await upload(`${PHOTO}.attachOnce`, socket.token, form([{ name: 'b.txt', text: 'b' }]));
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await second.json()).toMatchObject({ code: 'rate_limited' });
  });

  it('answers the CORS preflight for listed origins only', async () => {
    const preflight = await fetch(`${running.url}/_upload`, { method: 'OPTIONS', headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.status).toBe(403);
    const crossSite = await upload(`${PHOTO}.attach`, 'whatever-token', form([{ name: 'a.txt', text: 'a' }]), { Origin: 'https://elsewhere.example' });
    expect(crossSite.status).toBe(403);
  });
});

describe('uploads under the path prefix, and the stored files', () => {
  it('serves POST <prefix>/_upload and GET <prefix>/_upload/<path> from the upload directory', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'uploads-dir-'));
    await mkdir(join(directory, 'docs'));
    await writeFile(join(directory, 'docs', 'page.html'), '<script>alert(1)</script>');
    const running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ path: '/api/_event', uploads: { directory }, corsOrigins: ['https://front.example'] })],
      providers: [PhotoState],
    });
    try {
      const socket = new RawSocket(running.url, undefined, { path: '/api/_event' });
      await socket.connected();
      await socket.hydrate();
      const response = await fetch(`${running.url}/api/_upload`, {
        method: 'POST',
        headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${PHOTO}.attach`, Origin: 'https://front.example' },
        body: form([{ name: 'a.txt', text: 'a' }], { note: 'prefixed' }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://front.example');
      expect(response.headers.get('access-control-allow-credentials')).toBe('true');
      await response.text();
      const preflight = await fetch(`${running.url}/api/_upload`, { method: 'OPTIONS', headers: { Origin: 'https://front.example', 'Access-Control-Request-Method': 'POST' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-headers')).toContain('reflex-event-handler');
      const stored = await fetch(`${running.url}/api/_upload/docs/page.html`);
      expect(stored.status).toBe(200);
      expect(stored.headers.get('x-content-type-options')).toBe('nosniff');
      expect(stored.headers.get('content-disposition')).toBe('attachment');
      expect(stored.headers.get('content-security-policy')).toMatch(/default-src 'none';.*sandbox$/);
      expect(await stored.text()).toBe('<script>alert(1)</script>');
      expect((await fetch(`${running.url}/api/_upload/docs/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
      // Express routes paths in any letter case here: the file is the path after what the route matched, whatever its
      // case, and a query never names it.
      await writeFile(join(directory, 'docs', 'other.txt'), 'other');
      const upper = await fetch(`${running.url}/API/_UPLOAD/docs/page.html?next=/api/_upload/docs/other.txt`);
      expect(upper.status).toBe(200);
      expect(await upper.text()).toBe('<script>alert(1)</script>');
      const queried = await fetch(`${running.url}/api/_upload/docs/page.html?next=/api/_upload/docs/other.txt`);
      expect(await queried.text()).toBe('<script>alert(1)</script>');
      expect((await fetch(`${running.url}/api/_UPLOAD/docs/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
      // One range, as a media player (Safari's above all) or a resumed download asks, and a revalidated copy.
      const part = await fetch(`${running.url}/api/_upload/docs/page.html`, { headers: { Range: 'bytes=1-6' } });
      expect([part.status, part.headers.get('content-range'), part.headers.get('accept-ranges'), await part.text()]).toEqual([206, 'bytes 1-6/25', 'bytes', 'script']);
      expect(part.headers.get('content-disposition')).toBe('attachment');
      expect(part.headers.get('cache-control')).toBe('private, no-cache');
      // Cache-Control as a browser's reload sends it: fetch() would add `no-cache` to a conditional request, which asks
      // for the file whatever the validators say.
      const unchanged = await fetch(`${running.url}/api/_upload/docs/page.html`, { headers: { 'If-None-Match': part.headers.get('etag')!, 'Cache-Control': 'max-age=0' } });
      expect(unchanged.status).toBe(304);
      const past = await fetch(`${running.url}/api/_upload/docs/page.html`, { headers: { Range: 'bytes=25-' } });
      expect([past.status, past.headers.get('content-range')]).toEqual([416, 'bytes */25']);
      await past.arrayBuffer();
      socket.close();
    } finally {
      await running.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('a Reflex frontend on another listed origin', () => {
  it('may send the extra headers of rx.upload_files(extra_headers=...): its preflight allows the headers it asks for', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ corsOrigins: ['https://front.example'] })], providers: [PhotoState] });
    try {
      // What a browser asks before Reflex's upload.js sends its two headers and the app's `X-Upload-Kind`.
      const preflight = await fetch(`${running.url}/_upload`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://front.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'reflex-client-token,reflex-event-handler,x-upload-kind' },
      });
      expect(preflight.status).toBe(204);
      // The browser sends the upload only when every header it asked for is allowed (names are case-insensitive).
      const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').split(',').map((name) => name.trim().toLowerCase());
      expect(allowed).toEqual(expect.arrayContaining(['reflex-client-token', 'reflex-event-handler', 'x-upload-kind']));
      const socket = await RawSocket.hydrated(running.url);
      try {
        const response = await fetch(`${running.url}/_upload`, {
          method: 'POST',
          headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${PHOTO}.attach`, 'X-Upload-Kind': 'avatar', Origin: 'https://front.example' },
          body: form([{ name: 'a.txt', text: 'a' }], { note: 'from afar' }),
        });
        expect(response.status).toBe(200);
        await response.text();
      } finally {
        socket.close();
      }
      // Another origin still gets nothing, whatever it asks for.
      const elsewhere = await fetch(`${running.url}/_upload`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-upload-kind' },
      });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.headers.get('access-control-allow-headers')).toBeNull();
    } finally {
      await running.close();
    }
  });
});

describe('stored files, against a client that pipelines requests and reads nothing', () => {
  it("opens a pipelined request's file only when its answer's turn comes, and holds none once the client left", async () => {
    const directory = await mkdtemp(join(tmpdir(), 'uploads-dir-'));
    // Larger than what a connection buffers: an answer nobody reads keeps its file open while it is sent.
    await writeFile(join(directory, 'big.bin'), Buffer.alloc(512 * 1024, 7));
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: { directory } })], providers: [PhotoState] });
    try {
      await expectPipeliningHoldsNoFiles(running.app.getHttpServer() as Server, running.url, '/_upload/big.bin', async () => {
        const served = await fetch(`${running.url}/_upload/big.bin`);
        expect(served.status).toBe(200);
        expect((await served.arrayBuffer()).byteLength).toBe(512 * 1024);
      });
    } finally {
      await running.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describeWithRedis('uploads on another worker than the socket', () => {
  let redis: RedisTestServer;
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterAll(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await redis.destroy();
  });

  it('runs the handler under the token\'s shared state and reaches the socket on the other worker', async () => {
    const start = () => startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [PhotoState] });
    const a = await start();
    const b = await start();
    apps.push(a, b);
    const socket = new RawSocket(a.url);
    await socket.connected();
    await socket.hydrate();
    try {
      // Buffered, on B: the answer carries the delta, the toast reaches the socket on A, the state is shared.
      const buffered = await fetch(`${b.url}/_upload`, {
        method: 'POST',
        headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${PHOTO}.attach` },
        body: form([{ name: 'a.txt', text: 'a' }], { note: 'from B' }),
      });
      expect(buffered.status).toBe(200);
      expect(await buffered.text()).toContain('"note_rx_state_":"from B"');
      await socket.until(() => socket.updates.some((update) => JSON.stringify(update.events ?? []).includes('1 files attached')), DEFAULT_WAIT_MS, 'the toast on A');
      // Streaming, on B: the deltas go over the socket on A.
      const streamed = await fetch(`${b.url}/_upload`, {
        method: 'POST',
        headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': `${PHOTO}.importRows` },
        body: form([{ name: 'rows.csv', text: 'r'.repeat(1000) }]),
      });
      expect(streamed.status).toBe(202);
      await socket.untilVar(PHOTO, 'streamed', 1000);
      // An event on A sees what the uploads on B did.
      await socket.hydrate();
      expect(socket.latest(PHOTO, 'note')).toBe('from B');
    } finally {
      socket.close();
    }
  });
});

describe('uploads: false', () => {
  it('serves no upload route', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: false })], providers: [PhotoState] });
    try {
      const response = await fetch(`${running.url}/_upload`, { method: 'POST', headers: { 'Reflex-Client-Token': 'abcdefgh', 'Reflex-Event-Handler': `${PHOTO}.attach` }, body: form([]) });
      expect(response.status).toBe(404);
      expect((await fetch(`${running.url}/_upload/x.txt`)).status).toBe(404);
    } finally {
      await running.close();
    }
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventHandler, EventUploadChunks, EventUploadSignal, EventUploads, ReflexBridgeModule, State, type UploadChunkIterator, type UploadFile,
} from '@reflex-bridge/nest';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const HOSTILE = 'reflex___state____state.hostile_upload_state';
const DEFAULT_WAIT_MS = 20_000;
const BOUNDARY = 'xHostileBoundaryx';

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
      { imports: [ReflexBridgeModule.forRoot({ uploads: { tempDirectory } })], providers: [HostileUploadState] },
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

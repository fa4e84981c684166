import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHandler, EventUploads, EventUploadSignal, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const PROGRESS = 'reflex___state____state.unread_answer_state';
const BOUNDARY = 'xUnreadAnswerBoundaryx';
/** The option under test, small so that the test buffers little even when it fails. */
const MAX_OUTBOUND_BYTES = 1_000_000;
/** Each step's delta: a 64 KiB value. */
const STEP_CHARS = 64 * 1024;
/** Steps of the handler: 64 MiB of answer in all, far past the loopback's socket buffers and the bound. */
const STEPS = 1000;

/** How the handler's last run ended (module-level: handlers run on per-event views). */
const run = { steps: 0, aborted: false, ended: false };

@State()
class UnreadAnswerState {
  progress = '';

  /** An import that reports progress as it goes: one NDJSON line per step, each carrying a sizeable delta. */
  @EventHandler()
  async *importWithProgress(@EventUploads() _files: UploadFile[], @EventUploadSignal() signal: AbortSignal): AsyncGenerator<void> {
    try {
      for (let step = 0; step < STEPS && !signal.aborted; step++) {
        this.progress = `${step}:${'p'.repeat(STEP_CHARS)}`;
        run.steps = step + 1;
        yield;
        // Lets the server's sockets work between steps, as a handler awaiting its own work does.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      run.aborted = signal.aborted;
      run.ended = true;
    }
  }
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a buffered upload whose client does not read its answer', () => {
  let running: RunningApp;
  let tempDirectory: string;
  const sockets: RawSocket[] = [];
  const connections: Socket[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-unread-e2e-'));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ maxOutboundBytes: MAX_OUTBOUND_BYTES, uploads: { tempDirectory } })], providers: [UnreadAnswerState] }, undefined, logger);
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const connection of connections.splice(0)) connection.destroy();
  });

  afterAll(async () => {
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });

  it('is cut off once maxOutboundBytes of it wait unread: the handler is cancelled and the slot comes back', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    const body = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\na,b\r\n--${BOUNDARY}--\r\n`;
    const { port } = new URL(running.url);
    const connection = connectTcp(Number(port), '127.0.0.1');
    connections.push(connection);
    connection.on('error', () => undefined);
    let closed = false;
    connection.once('close', () => (closed = true));
    // The whole request is sent; nothing of the answer is ever read.
    connection.pause();
    connection.write(
      `POST /_upload HTTP/1.1\r\nHost: x\r\nReflex-Client-Token: ${tab.token}\r\nReflex-Event-Handler: ${PROGRESS}.importWithProgress\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await until(() => run.ended, 'the handler to end', 120_000);
    // Before: the server held every line the client did not read (all 1000 steps, 64 MiB) and the handler ran to its
    // end. Now the answer is cut off past the bound, which cancels the upload as a client that left does.
    expect(run.aborted).toBe(true);
    expect(run.steps).toBeLessThan(STEPS);
    await until(() => running.app.get(UploadRoute).inProgress === 0, 'the upload slot to come back');
    await until(async () => (await readdir(tempDirectory)).length === 0, 'the temp files to go');
    // The operator sees it. Before: a debug line only, "the client went away", as for a user who closed the tab.
    const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.includes('maxOutboundBytes'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(`${PROGRESS}.importWithProgress`);
    connection.resume();
    await until(() => closed, 'the connection to be closed');
  });
});

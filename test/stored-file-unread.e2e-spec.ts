/**
 * A stored upload asked for by a client that then reads nothing: the server streams a file as fast as its client
 * takes it, and such a client kept the file open, and its connection, for as long as it kept the connection (Node's
 * own timeouts bound requests, not answers). Now it is cut once it has taken nothing for `uploads.idleTimeoutMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { waitForUnreadAnswerCut } from './support/unread-answer.js';

/** Far more than loopback's socket buffers hold: the server's writes stall while the client reads nothing. */
const FILE_BYTES = 64 * 1024 * 1024;

describe('a stored file whose client reads nothing', () => {
  let running: RunningApp;
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'stored-unread-e2e-'));
    await writeFile(join(directory, 'large.bin'), Buffer.alloc(FILE_BYTES, 1));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ rateLimit: false, uploads: { directory, idleTimeoutMs: 1_000 } })] });
  });

  afterAll(async () => {
    await running?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('is cut once it has taken nothing for uploads.idleTimeoutMs', async () => {
    await waitForUnreadAnswerCut(running, '/_upload/large.bin');
  });

  it('still sends the whole file to a client that reads it', async () => {
    const response = await fetch(`${running.url}/_upload/large.bin`);
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(FILE_BYTES);
  });
});

/**
 * A file of the SPA's build asked for by a client that then reads nothing: serve-static streams a file as fast as its
 * client takes it, and such a client kept the file open, and its connection, for as long as it kept the connection
 * (Node's own timeouts bound requests, not answers). Now it is cut once it has taken nothing for `spa.idleTimeoutMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { waitForUnreadAnswerCut } from './support/unread-answer.js';

/** Far more than loopback's socket buffers hold: the server's writes stall while the client reads nothing. */
const FILE_BYTES = 64 * 1024 * 1024;

describe('a file of the SPA whose client reads nothing', () => {
  let running: RunningApp;
  let rootPath: string;

  beforeAll(async () => {
    rootPath = await mkdtemp(join(tmpdir(), 'spa-unread-e2e-'));
    await mkdir(join(rootPath, 'assets'));
    await writeFile(join(rootPath, 'index.html'), '<!doctype html><title>spa</title>');
    await writeFile(join(rootPath, 'assets', 'large-3f2a1b.bin'), Buffer.alloc(FILE_BYTES, 1));
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ rateLimit: false, spa: { rootPath, idleTimeoutMs: 1_000 } })] });
  });

  afterAll(async () => {
    await running?.close();
    await rm(rootPath, { recursive: true, force: true });
  });

  it('is cut once it has taken nothing for spa.idleTimeoutMs', async () => {
    await waitForUnreadAnswerCut(running, '/assets/large-3f2a1b.bin');
  });

  it('still sends the whole file to a client that reads it, and pages as before', async () => {
    const response = await fetch(`${running.url}/assets/large-3f2a1b.bin`);
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(FILE_BYTES);
    const page = await fetch(`${running.url}/cart`, { headers: { accept: 'text/html' } });
    expect([page.status, await page.text()]).toEqual([200, '<!doctype html><title>spa</title>']);
  });
});

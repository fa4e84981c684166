/**
 * A file of the SPA's build asked for by a client that then reads nothing: serve-static streams a file as fast as its
 * client takes it, and such a client kept the file open, and its connection, for as long as it kept the connection
 * (Node's own timeouts bound requests, not answers). Now it is cut once it has taken nothing for `spa.idleTimeoutMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';

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

  const connections = () => new Promise<number>((resolve, reject) => running.app.getHttpServer().getConnections((error: Error | null, count: number) => (error ? reject(error) : resolve(count))));

  it('is cut once it has taken nothing for spa.idleTimeoutMs', async () => {
    const socket = connectTcp(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.pause();
      socket.write('GET /assets/large-3f2a1b.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await until(async () => (await connections()) === 1 || undefined, 'the server to hold the connection');
      await until(async () => (await connections()) === 0 || undefined, 'the server to cut the client that reads nothing');
    } finally {
      socket.destroy();
    }
  });

  it('still sends the whole file to a client that reads it, and pages as before', async () => {
    const response = await fetch(`${running.url}/assets/large-3f2a1b.bin`);
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(FILE_BYTES);
    const page = await fetch(`${running.url}/cart`, { headers: { accept: 'text/html' } });
    expect([page.status, await page.text()]).toEqual([200, '<!doctype html><title>spa</title>']);
  });
});

/**
 * Uploads the module refuses without reading their body (a body past its bound by `Content-Length`, the worker or
 * the address at its upload cap), behind nginx (the harness, as deploy/nginx.conf: the body streamed to the worker).
 * The worker answers and closes the connection; if it closed with the body still arriving, the kernel reset the
 * connection, and nginx, still writing the body, failed with "writev() failed (32: Broken pipe) while sending request
 * to upstream" and answered 502 instead of the worker's structured refusal (4 of 12 tries in Chromium). Chromium, as the harness's nginx, is required under CI.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHandler, EventUploads, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumMissing } from './support/chromium.js';
import { startApp, type RunningApp } from './support/app.js';
import { nginxSkipReason, startNginx, type NginxProxy } from './support/nginx.js';
import { RawSocket } from './support/raw-socket.js';
import { eventually, until } from './support/eventually.js';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';

@State()
class FileState {
  count = 0;

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    this.count += files.length;
  }
}

const HANDLER = 'reflex___state____state.file_state.attach';
const skip = nginxSkipReason() ?? (process.env.CI ? undefined : chromiumMissing());
if (skip) console.warn(skip);

(skip ? describe.skip : describe)('upload refusals before the body, behind nginx', () => {
  let running: RunningApp;
  let nginx: NginxProxy;
  let tempDirectory: string;
  let browser: Browser;
  let page: Page;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'upload-refusals-'));
    // A body bound of about 3 MiB (2 files of 1 MiB, the fields, the framing): a 16 MiB body is refused by its length.
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ uploads: { tempDirectory, maxFileBytes: 1024 * 1024, maxFiles: 2, maxConcurrent: 1 } })],
      providers: [FileState],
    });
    nginx = await startNginx([Number(new URL(running.url).port)]);
    browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${nginx.url}/_health`);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    for (const socket of sockets.splice(0)) socket.close();
    await nginx?.stop();
    await running?.close();
    await rm(tempDirectory, { recursive: true, force: true });
  });

  /** A 16 MiB upload from a page of the app in Chromium, through nginx: its status and body, or the fetch error. */
  const bigUpload = async (token: string): Promise<{ status: number; body: string }> =>
    page.evaluate(
      async ({ token, handler }) => {
        const form = new FormData();
        form.append('files', new Blob([new Uint8Array(16 * 1024 * 1024)]), 'big.bin');
        try {
          const response = await fetch('/_upload', { method: 'POST', headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': handler }, body: form });
          return { status: response.status, body: await response.text() };
        } catch (error) {
          return { status: 0, body: String(error) };
        }
      },
      { token, handler: HANDLER },
    );

  it('passes on the 413 of a body longer than any form within the limits, not a 502', async () => {
    const socket = await RawSocket.hydrated(running.url, sockets);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      // A refused body still arriving keeps the worker's only slot (maxConcurrent: 1) until nginx stopped sending it,
      // which may be after the browser read the 413: the next upload would then be 503 uploads_busy, not what is tested.
      await until(() => running.app.get(UploadRoute).inProgress === 0, 'the previous refused upload to free its slot', 30_000);
      const { status, body } = await bigUpload(socket.token);
      statuses.push(status);
      if (status === 413) expect(JSON.parse(body)).toMatchObject({ code: 'upload_too_large' });
    }
    // Before: [413, 502, 413, 413, 502, ...], nginx's log saying "writev() failed (32: Broken pipe)".
    expect(statuses).toEqual(Array(12).fill(413));
  });

  it('passes on the 503 uploads_busy of a large upload while the worker is at its cap, not a 502', async () => {
    const socket = await RawSocket.hydrated(running.url, sockets);
    // The uploads refused above hold the slot until their refusal has settled (on a loaded machine, after this test
    // began): the held upload below would be refused 503 itself, and the probes answered 413 once the slot is free.
    await until(() => running.app.get(UploadRoute).inProgress === 0, 'the earlier uploads to have ended', 30_000);
    // One upload in progress holds the worker's only slot: its headers and the start of its body, then nothing.
    const held = httpRequest({
      host: '127.0.0.1',
      port: new URL(running.url).port,
      method: 'POST',
      path: '/_upload',
      headers: { 'Reflex-Client-Token': socket.token, 'Reflex-Event-Handler': HANDLER, 'Content-Type': 'multipart/form-data; boundary=b' },
    });
    held.on('error', () => undefined);
    held.write('--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nabc');
    try {
      // The worker has taken the held upload (its only slot) before any probe: a probe sent before that gets the
      // 413 of its length, and a loaded machine may take seconds to get there.
      await until(() => running.app.get(UploadRoute).inProgress === 1, 'the held upload to take the worker\'s only slot', 30_000);
      await eventually('a large upload refused 503 while the worker is at its cap', () => bigUpload(socket.token), (answer) => answer.status === 503, 30_000);
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const { status, body } = await bigUpload(socket.token);
        statuses.push(status);
        if (status === 503) expect(JSON.parse(body)).toMatchObject({ code: 'uploads_busy' });
      }
      expect(statuses).toEqual(Array(12).fill(503));
    } finally {
      held.destroy();
    }
  }, 120_000);
});

/**
 * Uploads in the devtools and the metrics: an upload is an event like any other (it runs its handler under the
 * token's lock, on a tier), so it is recorded with its tier and the reason for it (the upload floor), and counted
 * in the prom-client metrics, as the devtools page documents.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RequestHandler } from 'express';
import { request as httpRequest } from 'node:http';
import { Registry } from 'prom-client';
import { BridgeTier, EventHandler, EventUploads, EventUser, ReflexBridgeModule, State, type EventInspection, type UploadFile } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const GALLERY = 'reflex___state____state.gallery_state';

/** Requests held in the tier by a `hold=1` cookie, each released by the test. */
const held: Array<{ request: { destroyed: boolean }; release: () => void }> = [];

/** A `user=<name>` cookie logs in; a `hold=1` cookie keeps the request in the tier until the test releases it (a slow session store). */
const auth: RequestHandler = (req, _res, next) => {
  if (req.headers.cookie?.includes('hold=1')) {
    held.push({ request: req, release: () => next() });
    return;
  }
  const user = /(?:^|;\s*)user=(\w+)/.exec(req.headers.cookie ?? '')?.[1];
  if (user) (req as { user?: unknown }).user = { name: user };
  next();
};

@State()
@BridgeTier('none')
class GalleryState {
  uploadedBy = '';

  @EventHandler()
  addPicture(@EventUploads() files: UploadFile[], @EventUser() user?: { name: string }): void {
    this.uploadedBy = `${user?.name ?? 'anonymous'}:${files.length}`;
  }
}

describe('uploads in the devtools and the metrics', () => {
  let running: RunningApp;
  const registry = new Registry();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ devtools: true, metrics: { registry, log: false }, bridge: { authMiddleware: [auth] } })],
      providers: [GalleryState],
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running?.close();
  });

  it('records an upload with its tier, the upload floor as the reason, its user and delta, and counts it', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    const body = new FormData();
    body.append('files', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
    const response = await fetch(`${running.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${GALLERY}.addPicture`, cookie: 'user=ada' },
      body,
    });
    expect(response.status).toBe(200);
    await response.text();

    const recorded = await until(async () => {
      const events = ((await (await fetch(`${running.url}/_bridge/devtools/events?handler=addPicture`)).json()) as { events: EventInspection[] }).events;
      return events[0];
    }, 'the upload in the devtools');
    expect(recorded).toMatchObject({
      handler: `${GALLERY}.addPicture`,
      tier: 'auth_only',
      tierReason: 'upload floor (@BridgeTier on the class said none)',
      token: tab.token,
      user: 'ada',
      authenticated: true,
    });
    expect(recorded.phases.some((step) => step.phase === 'handler')).toBe(true);
    expect(recorded.deltaBytes).toBeGreaterThan(0);

    const counted = (await registry.getSingleMetricAsString('reflex_bridge_events_total')).split('\n');
    expect(counted).toContain('reflex_bridge_events_total{tier="auth_only"} 1');
  });

  it('records an upload its form refused (a bad form, a limit), with the refusal, as a refused event', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    const body = new FormData();
    body.append('__reflex_event_args', 'not json');
    body.append('files', new Blob(['hello'], { type: 'text/plain' }), 'b.txt');
    const response = await fetch(`${running.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${GALLERY}.addPicture`, cookie: 'user=bob' },
      body,
    });
    expect(response.status).toBe(400);
    await response.text();
    const recorded = await until(async () => {
      const events = ((await (await fetch(`${running.url}/_bridge/devtools/events?handler=addPicture`)).json()) as { events: EventInspection[] }).events;
      return events.find((event) => event.token === tab.token);
    }, 'the refused upload in the devtools');
    expect(recorded).toMatchObject({ handler: `${GALLERY}.addPicture`, tier: 'auth_only', error: { code: 'upload_bad_args' } });
  });

  it('records an upload whose client went away while its tier ran, as cancelled, instead of leaving it pending forever', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    const { port } = new URL(running.url);
    // A client that sends its headers and the start of a file, then leaves while the tier (its session lookup) runs.
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/_upload',
      headers: { cookie: 'hold=1', 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${GALLERY}.addPicture`, 'Content-Type': 'multipart/form-data; boundary=xLeftx' },
    });
    request.on('error', () => undefined);
    request.write('--xLeftx\r\nContent-Disposition: form-data; name="files"; filename="c.txt"\r\n\r\nhel');
    await until(() => held.length > 0, 'the upload to reach its tier');
    request.destroy();
    // The server saw the connection close before the tier lets the upload go on.
    const { request: seen, release } = held.shift()!;
    await until(() => seen.destroyed, 'the server to see the client leave');
    release();

    const recorded = await until(async () => {
      const events = ((await (await fetch(`${running.url}/_bridge/devtools/events?handler=addPicture`)).json()) as { events: EventInspection[] }).events;
      return events.find((event) => event.token === tab.token);
    }, 'the cancelled upload in the devtools');
    expect(recorded).toMatchObject({ handler: `${GALLERY}.addPicture`, error: { name: 'UploadAbortedError' } });
    expect(tab.errors).toEqual([]);
  });
});

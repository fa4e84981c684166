/**
 * Uploads in the devtools and the metrics: an upload is an event like any other (it runs its handler under the
 * token's lock, on a tier), so it is recorded with its tier and the reason for it (the upload floor), and counted
 * in the prom-client metrics, as the devtools page documents.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RequestHandler } from 'express';
import { Registry } from 'prom-client';
import { BridgeTier, EventHandler, EventUploads, EventUser, ReflexBridgeModule, State, type EventInspection, type UploadFile } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const GALLERY = 'reflex___state____state.gallery_state';

/** A `user=<name>` cookie logs in. */
const auth: RequestHandler = (req, _res, next) => {
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
});

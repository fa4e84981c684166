/**
 * `Cache-Control` of what the module answers on its own paths, with no proxy in front (deploy/nginx.conf adds
 * `no-store` to errors, but an app may run without it, or behind a CDN): errors and per-user answers must not be
 * kept by a shared cache. A 404 or 400 without `Cache-Control` is cacheable by default (RFC 9111, heuristic
 * freshness), so a CDN could keep serving a momentary refusal to everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';

describe('Cache-Control on the module paths without a proxy', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: true })] });
  });
  afterAll(async () => {
    await running?.close();
  });

  const answers: Array<[method: string, path: string, status: number]> = [
    // Engine.IO's own refusals on the event path (the server speaks WebSocket only).
    ['GET', '/_event/?EIO=4&transport=polling', 400],
    ['POST', '/_event/?EIO=4&transport=polling&sid=abc', 400],
    ['GET', '/_event/x', 400],
    // Nest's JSON 404 under the module's paths, in any letter case (Express routes case-insensitively).
    ['GET', '/_event', 404],
    ['GET', '/_upload', 404],
    ['GET', '/_UPLOAD', 404],
    ['POST', '/_health', 404],
    ['DELETE', '/ping', 404],
    ['GET', '/_bridge/devtools/nope', 404],
    ['POST', '/_bridge/devtools/events', 404],
    ['GET', '/_bridge/anything', 404],
    // The module's own answers, which already said no-store: they keep saying it.
    ['POST', '/_upload', 400],
    ['GET', '/_upload/nothing-here.png', 404],
    ['GET', '/_health', 200],
    ['GET', '/_bridge/devtools/events', 200],
  ];

  it.each(answers)('%s %s answers %d with Cache-Control: no-store', async (method, path, status) => {
    const response = await fetch(`${running.url}${path}`, { method, body: method === 'POST' ? 'x' : undefined });
    await response.arrayBuffer();
    expect({ status: response.status, cacheControl: response.headers.get('cache-control') }).toEqual({ status, cacheControl: 'no-store' });
  });

  it('leaves the rest of the app alone', async () => {
    const response = await fetch(`${running.url}/some/app/route`);
    await response.arrayBuffer();
    expect(response.status).toBe(404);
    expect(response.headers.get('cache-control')).toBeNull();
  });
});

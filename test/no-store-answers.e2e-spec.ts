/**
 * `Cache-Control` of what the module answers on its own paths, with no proxy in front (deploy/nginx.conf adds
 * `no-store` to errors, but an app may run without it, or behind a CDN): errors and per-user answers must not be
 * kept by a shared cache. A 404 or 400 without `Cache-Control` is cacheable by default (RFC 9111, heuristic
 * freshness), so a CDN could keep serving a momentary refusal to everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
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

  it.each(['/_bridge#x', 'http://elsewhere.example/_bridge/anything'])('a target Express routes to the module, spelt %s, gets no-store too', async (target) => {
    // Sent raw: a client library would drop the fragment, or turn the absolute form into a path.
    const { port } = new URL(running.url);
    const head = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(text.slice(0, text.indexOf('\r\n\r\n'))));
    });
    expect(head).toMatch(/^HTTP\/1\.1 404 /);
    expect(head.toLowerCase()).toContain('\r\ncache-control: no-store');
  });

  it('leaves the rest of the app alone', async () => {
    const response = await fetch(`${running.url}/some/app/route`);
    await response.arrayBuffer();
    expect(response.status).toBe(404);
    expect(response.headers.get('cache-control')).toBeNull();
  });
});

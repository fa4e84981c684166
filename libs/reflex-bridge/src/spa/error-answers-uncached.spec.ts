import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorAnswersUncached } from './error-answers-uncached.js';

describe('errorAnswersUncached', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Each path answers one way: `/<status>`, `/<status>/own` with its own Cache-Control, `/<status>/head` via writeHead.
    server = createServer((req, res) => {
      errorAnswersUncached(res);
      const [, status, how] = (req.url ?? '').split('/');
      if (how === 'own') res.setHeader('Cache-Control', 'public, max-age=60');
      if (how === 'head') res.writeHead(Number(status), { 'Content-Type': 'text/plain' });
      else res.statusCode = Number(status);
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    ['/200', null],
    ['/304', null],
    ['/404', 'no-store'],
    ['/412/head', 'no-store'],
    ['/500', 'no-store'],
    ['/404/own', 'public, max-age=60'],
    ['/200/own', 'public, max-age=60'],
  ])('%s goes out with Cache-Control %s', async (path, cacheControl) => {
    const response = await fetch(`${url}${path}`);
    await response.arrayBuffer();
    expect(response.headers.get('cache-control')).toBe(cacheControl);
  });
});

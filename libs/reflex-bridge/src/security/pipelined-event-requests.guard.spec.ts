import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { closeAfterEventPathRequests } from './pipelined-event-requests.guard.js';

/** Writes `requests` on one connection and returns everything answered until the server closes it, or `answers` came. */
async function exchange(port: number, requests: string, answers: number): Promise<{ text: string; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (data: Buffer) => (text += data.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(requests);
  const deadline = Date.now() + 20_000;
  while (!closed && (text.match(/HTTP\/1\.1 /g) ?? []).length < answers) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the answers');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  socket.destroy();
  return { text, closed };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

describe('closeAfterEventPathRequests', () => {
  let http: HttpServer;
  let port: number;
  const handled: string[] = [];

  beforeAll(async () => {
    // As Engine.IO's listener: the event path refused (after a turn, as its middlewares answer), the rest the app's.
    http = createServer((request, response) => {
      handled.push(request.url!);
      if (request.url!.startsWith('/_event/')) setImmediate(() => response.writeHead(400).end('refused'));
      else response.end('app');
    });
    closeAfterEventPathRequests(http, '/_event/');
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => http.close(resolve));
  });

  it('hands on only the first of the requests pipelined to the event path, and closes the connection after its answer', async () => {
    handled.length = 0;
    const { text, closed } = await exchange(port, get('/_event/?EIO=4&transport=polling').repeat(500) + get('/app'), 2);
    expect(closed).toBe(true);
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 400']);
    expect(text).toMatch(/Connection: close/i);
    expect(handled).toEqual(['/_event/?EIO=4&transport=polling']);
  });

  it('leaves other paths alone: pipelined requests each answered on a connection kept alive', async () => {
    handled.length = 0;
    const { text, closed } = await exchange(port, get('/app').repeat(3) + get('/_eventual'), 4);
    expect(closed).toBe(false);
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(handled).toEqual(['/app', '/app', '/app', '/_eventual']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { answerWithoutBody } from './answer-without-body.js';

const keying = { trustProxy: false, ipv6SubnetPrefix: 64 };
const MiB = 1024 * 1024;

/**
 * Sends `head` over a raw connection; with `endlessBody`, then writes a chunked body as fast as the server reads it
 * and never ends it. Resolves with the answer's text once the server closed the connection (for a body, once it
 * closed or `giveUpAfterBytes` of body went out: a server that reads on would take all of it).
 */
function exchange(port: number, head: string, endlessBody: boolean, giveUpAfterBytes = 64 * MiB): Promise<{ answer: string; closed: boolean; bodyBytes: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let closed = false;
    let bodyBytes = 0;
    const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
    const finish = () => {
      socket.destroy();
      resolve({ answer, closed, bodyBytes });
    };
    const writeOn = () => {
      while (!closed && endlessBody && socket.writableLength < MiB && bodyBytes < giveUpAfterBytes) {
        socket.write(chunk);
        bodyBytes += chunk.length;
      }
      if (bodyBytes >= giveUpAfterBytes) finish();
    };
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
    socket.on('drain', writeOn);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(head);
      writeOn();
      if (!endlessBody) socket.end();
    });
  });
}

describe('answerWithoutBody', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((_req, res) => answerWithoutBody(res, keying, 403, 'application/json', '{"code":"refused"}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers with the status and body, never cached, never sniffed', async () => {
    const { answer } = await exchange(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', false);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 403 /);
    expect(head).toMatch(/\r\nContent-Type: application\/json\r\n/i);
    expect(head).toMatch(/\r\nCache-Control: no-store\r\n/i);
    expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
    expect(body).toBe('{"code":"refused"}');
  });

  it('does not read on a body that never ends: the connection closes after the answer', async () => {
    const { answer, closed, bodyBytes } = await exchange(port, 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n', true);
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    // Node alone would read the body on and drop it (until its requestTimeout): all 64 MiB would go out.
    expect({ closed, readOn: bodyBytes >= 64 * MiB }).toEqual({ closed: true, readOn: false });
  });
});

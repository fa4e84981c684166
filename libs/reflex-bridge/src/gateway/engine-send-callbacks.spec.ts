import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { releaseEmptiedSendCallbacks, SendCallbackQueue } from './engine-send-callbacks.js';

describe('SendCallbackQueue', () => {
  it('keeps entries first in, first out, as an array does', () => {
    const queue = new SendCallbackQueue<string | null>();
    queue.push('a', null);
    queue.push('b');
    expect(Array.isArray(queue)).toBe(true);
    expect([queue.shift(), queue.shift(), queue.length]).toEqual(['a', null, 1]);
    expect([queue.shift(), queue.shift(), queue.length]).toEqual(['b', undefined, 0]);
    queue.push('c');
    expect([...queue]).toEqual(['c']);
  });
});

describe('releaseEmptiedSendCallbacks (a real Socket.IO server)', () => {
  let http: HttpServer;
  let io: Server;
  let client: ClientSocket;
  let server: Socket;

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { transports: ['websocket'] });
    releaseEmptiedSendCallbacks(io.engine as never);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const joined = new Promise<Socket>((resolve) => io.once('connection', resolve));
    client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'] });
    server = await joined;
  });
  afterAll(async () => {
    client.close();
    await io.close();
  });

  it("runs each write's callbacks once it is written, in order, and ends empty", async () => {
    const conn = server.conn as unknown as { sentCallbackFn: unknown; send(data: string, options: object, callback: () => void): void };
    expect(conn.sentCallbackFn).toBeInstanceOf(SendCallbackQueue);
    const received: string[] = [];
    client.on('message', (data: string) => void received.push(data));
    const written: string[] = [];
    const all = new Promise<void>((resolve) => {
      // Socket.IO events as Engine.IO writes them, each with the callback Engine.IO runs once it is written.
      for (const data of ['one', 'two', 'three']) conn.send(`2["message","${data}"]`, {}, () => (written.push(data), written.length === 3 && resolve()));
    });
    await all;
    expect(written).toEqual(['one', 'two', 'three']);
    // Written and drained: the queue holds nothing, and the client got every message.
    await new Promise<void>((resolve) => {
      const check = (): void => void (received.length === 3 ? resolve() : setImmediate(check));
      check();
    });
    expect(received).toEqual(['one', 'two', 'three']);
    expect((conn.sentCallbackFn as unknown[]).length).toBe(0);
  });
});

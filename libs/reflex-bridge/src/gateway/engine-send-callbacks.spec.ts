import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { releaseEmptiedSendCallbacks } from './engine-send-callbacks.js';

/** Engine.IO's queue of writes under way, as `releaseEmptiedSendCallbacks` finds it on a connection. */
type Connection = { sentCallbackFn: unknown[]; send(data: string, options: object, callback: () => void): void };

describe('releaseEmptiedSendCallbacks (a real Socket.IO server)', () => {
  let http: HttpServer;
  let io: Server;
  let client: ClientSocket;
  let server: Socket;

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { transports: ['websocket'] });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const joined = new Promise<Socket>((resolve) => io.once('connection', resolve));
    client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'] });
    server = await joined;
  });
  afterAll(async () => {
    client.close();
    await io.close();
  });

  /** Writes `data` as Socket.IO `message` events, each with the callback Engine.IO runs once it is written. */
  function write(conn: Connection, data: string[]): Promise<void> {
    let left = data.length;
    return new Promise<void>((resolve) => {
      for (const text of data) conn.send(`2["message","${text}"]`, {}, () => void (--left === 0 && resolve()));
    });
  }

  it('leaves a queue with writes under way as it is, and writes on an emptied one as before', async () => {
    const conn = server.conn as unknown as Connection;
    const received: string[] = [];
    client.on('message', (data: string) => void received.push(data));
    const queue = conn.sentCallbackFn;
    const written = write(conn, ['one', 'two']);
    // The first write is under way (its callback waits for the transport): nothing is taken from it.
    expect(queue.length).toBeGreaterThan(0);
    const entries = [...queue];
    releaseEmptiedSendCallbacks(conn);
    expect(conn.sentCallbackFn).toBe(queue);
    expect([...queue]).toEqual(entries);
    await written;
    expect(queue).toHaveLength(0);
    releaseEmptiedSendCallbacks(conn);
    // Still Engine.IO's own array, used as before.
    expect(conn.sentCallbackFn).toBe(queue);
    await write(conn, ['three']);
    await new Promise<void>((resolve) => {
      const check = (): void => void (received.length === 3 ? resolve() : setImmediate(check));
      check();
    });
    expect(received).toEqual(['one', 'two', 'three']);
  });

  it('ignores a connection whose queue is not an array (another Engine.IO)', () => {
    const conn = { sentCallbackFn: { length: 0 } };
    releaseEmptiedSendCallbacks(conn);
    expect(conn.sentCallbackFn).toEqual({ length: 0 });
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { SharedMessage } from '../protocol/shared-message.js';
import { writeSharedMessage } from './shared-message.writer.js';

const PATH = '/_event';

function until(predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setTimeout(check, 5));
    check();
  });
}

describe('writeSharedMessage (a real Socket.IO server and clients)', () => {
  let http: HttpServer;
  let io: Server;
  const serverSockets: Socket[] = [];
  const clients: ClientSocket[] = [];
  const received: unknown[][] = [];

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { path: PATH, transports: ['websocket'], serveClient: false });
    io.of(PATH).on('connection', (socket) => void serverSockets.push(socket));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    for (let i = 0; i < 3; i++) {
      const client = connect(`http://127.0.0.1:${port}${PATH}`, { path: PATH, transports: ['websocket'], forceNew: true, reconnection: false });
      const frames: unknown[] = [];
      received.push(frames);
      client.on('event', (update: unknown) => void frames.push(update));
      clients.push(client);
    }
    await until(() => serverSockets.length === 3);
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await io.close();
  });

  it('delivers the same update to every socket, encoding it once, in order with the socket’s other messages', async () => {
    const adapter = io.of(PATH).adapter as unknown as { _encode(packet: unknown, options: object): unknown[] };
    const encode = adapter._encode.bind(adapter);
    let encodings = 0;
    adapter._encode = (packet, options) => {
      encodings++;
      return encode(packet, options);
    };
    const shared = new SharedMessage('event', { delta: { 'reflex___state____state.board_state': { notes_rx_state_: [{ id: 1, text: 'é ✓' }] } } });
    for (const socket of serverSockets) {
      socket.emit('event', { delta: { before: { n_rx_state_: 1 } } });
      writeSharedMessage(socket, shared);
      socket.emit('event', { delta: { after: { n_rx_state_: 2 } } });
    }
    await until(() => received.every((frames) => frames.length === 3));
    for (const frames of received) expect(frames).toEqual([{ delta: { before: { n_rx_state_: 1 } } }, shared.data, { delta: { after: { n_rx_state_: 2 } } }]);
    expect(encodings).toBe(1);
  });

  it('writes nothing to a socket that has disconnected, and still serves the others', async () => {
    const shared = new SharedMessage('event', { delta: { s: { v_rx_state_: 'second' } } });
    const gone = serverSockets[0];
    clients[0].disconnect();
    await until(() => gone.disconnected);
    for (const socket of serverSockets) expect(() => writeSharedMessage(socket, shared)).not.toThrow();
    await until(() => received[1].length === 4 && received[2].length === 4);
    expect(received[1][3]).toEqual(shared.data);
    expect(received[0]).toHaveLength(3);
  });
});

import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import * as defaultParser from 'socket.io-parser';
import { writeJsonEvent, writeStateUpdate } from './json-event.writer.js';

const PATH = '/_event';

function until(predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setTimeout(check, 5));
    check();
  });
}

/** Socket.IO's own parser behind an encoder that only has `encode`, as a custom parser (msgpack, say) would. */
const customParser = {
  ...defaultParser,
  Encoder: class {
    private readonly inner = new defaultParser.Encoder();
    encodings = 0;
    encode(packet: defaultParser.Packet) {
      this.encodings++;
      return this.inner.encode(packet);
    }
  },
};

/** Socket.IO's own parser with a replacer, as an app that sends dates its own way would set it up. */
const replacingParser = {
  ...defaultParser,
  Encoder: class extends defaultParser.Encoder {
    constructor() {
      super((_key: string, value: unknown) => (typeof value === 'number' ? value * 10 : value));
    }
  },
};

describe('writeJsonEvent (a real Socket.IO server and client)', () => {
  let http: HttpServer | undefined;
  let io: Server | undefined;
  let client: ClientSocket | undefined;

  afterEach(async () => {
    client?.disconnect();
    await io?.close();
    http = io = client = undefined;
  });

  /** A server with `options`, one connected client recording its `event`s, and the server's socket. */
  async function connected(options: Partial<ServerOptions> = {}) {
    http = createServer();
    io = new Server(http, { path: PATH, transports: ['websocket'], serveClient: false, ...options });
    let socket: Socket | undefined;
    io.of(PATH).on('connection', (connectedSocket) => void (socket = connectedSocket));
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    client = connect(`http://127.0.0.1:${port}${PATH}`, { path: PATH, transports: ['websocket'], forceNew: true, reconnection: false, parser: options.parser });
    const received: unknown[] = [];
    client.on('event', (update: unknown) => void received.push(update));
    await until(() => socket !== undefined && client!.connected);
    return { socket: socket!, received };
  }

  it('delivers what socket.emit would, in order with the socket’s other messages, and shows it to outgoing listeners', async () => {
    const { socket, received } = await connected();
    const outgoing: unknown[][] = [];
    socket.onAnyOutgoing((...args: unknown[]) => void outgoing.push(args));
    const update = { delta: { 'reflex___state____state.board_state': { notes_rx_state_: [{ id: 1, text: 'é ✓ "quoted" \u2028' }], n_rx_state_: null } } };
    socket.emit('event', { delta: { before: { n_rx_state_: 1 } } });
    writeJsonEvent(socket, 'event', update);
    socket.emit('event', { delta: { after: { n_rx_state_: 2 } } });
    await until(() => received.length === 3);
    expect(received).toEqual([{ delta: { before: { n_rx_state_: 1 } } }, update, { delta: { after: { n_rx_state_: 2 } } }]);
    expect(outgoing[1]).toEqual(['event', update]);
  });

  it('sends a Buffer as JSON, not as a binary attachment (the bridge sends JSON only)', async () => {
    const { socket, received } = await connected();
    writeJsonEvent(socket, 'event', { delta: { s: { file_rx_state_: Buffer.from([1, 2]) } } });
    await until(() => received.length === 1);
    expect(received[0]).toEqual({ delta: { s: { file_rx_state_: { type: 'Buffer', data: [1, 2] } } } });
  });

  it('falls back to socket.emit with a custom parser whose encoder has no text encoding of its own', async () => {
    const { socket, received } = await connected({ parser: customParser });
    const encoder = (socket as unknown as { client: { encoder: { encodings: number } } }).client.encoder;
    const before = encoder.encodings;
    writeJsonEvent(socket, 'event', { delta: { s: { n_rx_state_: 3 } } });
    await until(() => received.length === 1);
    expect(received[0]).toEqual({ delta: { s: { n_rx_state_: 3 } } });
    expect(encoder.encodings).toBe(before + 1);
  });

  it('falls back to socket.emit with connection state recovery on, which keeps what it sends', async () => {
    const { socket, received } = await connected({ connectionStateRecovery: {} });
    const emitted: unknown[] = [];
    const emit = socket.emit.bind(socket);
    socket.emit = ((name: string, ...args: unknown[]) => {
      emitted.push(name);
      return emit(name, ...args);
    }) as typeof socket.emit;
    writeJsonEvent(socket, 'event', { delta: { s: { n_rx_state_: 4 } } });
    await until(() => received.length === 1);
    expect(emitted).toEqual(['event']);
  });

  it('writes a state update as socket.emit would, with or without outgoing listeners, whatever its values', async () => {
    const { socket, received } = await connected();
    const outgoing: unknown[][] = [];
    const primitive = { delta: { 'reflex___state____state.counter_state': { count_rx_state_: 3, label_rx_state_: 'say "hi"\n', on_rx_state_: true, gone_rx_state_: null } } };
    const rows = { delta: { 'reflex___state____state.board_state': { rows_rx_state_: [{ id: 1 }] } } };
    writeStateUpdate(socket, primitive);
    socket.onAnyOutgoing((...args: unknown[]) => void outgoing.push(args));
    writeStateUpdate(socket, primitive);
    writeStateUpdate(socket, rows);
    writeStateUpdate(socket, { events: [{ name: '_call_script', payload: { javascript_code: '1' } }] });
    await until(() => received.length === 4);
    expect(received).toEqual([primitive, primitive, rows, { events: [{ name: '_call_script', payload: { javascript_code: '1' } }] }]);
    expect(outgoing.map((args) => args[1])).toEqual([primitive, rows, { events: [{ name: '_call_script', payload: { javascript_code: '1' } }] }]);
  });

  it("applies the server's replacer to a state update: its encoder writes it", async () => {
    const { socket, received } = await connected({ parser: replacingParser });
    writeStateUpdate(socket, { delta: { s: { n_rx_state_: 3 } } });
    await until(() => received.length === 1);
    expect(received[0]).toEqual({ delta: { s: { n_rx_state_: 30 } } });
  });

  it('writes nothing, and does not throw, once the connection has closed', async () => {
    const { socket } = await connected();
    client!.disconnect();
    await until(() => socket.disconnected);
    expect(() => writeJsonEvent(socket, 'event', { delta: {} })).not.toThrow();
    expect(() => writeStateUpdate(socket, { delta: { s: { n_rx_state_: 1 } } })).not.toThrow();
  });
});

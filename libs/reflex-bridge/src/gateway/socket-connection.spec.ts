import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import type { Socket } from 'socket.io';
import type { BridgeError } from '../protocol/bridge-error.js';
import type { EventClient } from '../common/event-client.js';
import { connectionLimitSettings } from '../security/connection-limits.js';
import { SocketConnection, type SocketConnectionOwner } from './socket-connection.js';

/** The parts of a Socket.IO socket a connection reads: its Engine.IO queue, its WebSocket's buffer and pause. */
function fakeSocket(options: { polling?: boolean } = {}) {
  const websocket = { paused: false, bufferedAmount: 0, pause: () => void (websocket.paused = true), resume: () => void (websocket.paused = false) };
  const transport = Object.assign(new EventEmitter(), { socket: options.polling ? undefined : websocket });
  const conn = { writeBuffer: [] as unknown[], transport, request: options.polling ? {} : { websocket } };
  const socket = { id: 'sid', connected: true, handshake: { query: { token: 'token-1234' }, issued: 0, address: '' }, conn };
  return { socket: socket as unknown as Socket, websocket, transport };
}

/** A pipeline that records what reaches it. */
function recordingOwner() {
  const handled: unknown[] = [];
  const errors: Array<{ code: string; present: boolean | undefined }> = [];
  const owner: SocketConnectionOwner = {
    handle: (_client: EventClient, frame: unknown) => void handled.push(frame),
    isQueueFull: () => false,
    connectionBlockedForMs: () => 0,
    onQueueDrained: () => undefined,
    reportError: (_client: EventClient, error: BridgeError, _name?: string, present?: boolean) => void errors.push({ code: error.code, present }),
    chargeConnection: () => 0,
  };
  return { owner, handled, errors };
}

describe('SocketConnection', () => {
  const maxOutboundBytes = 1_600_000;
  const settings = connectionLimitSettings('/_event', 100_000, maxOutboundBytes);

  it('runs events while the client reads its answers', () => {
    const { socket, websocket } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner });
    connection.admission = true;
    websocket.bufferedAmount = settings.outputPauseBytes;
    connection.receive('a');
    connection.receive('b');
    expect(handled).toEqual(['a', 'b']);
    expect(errors).toEqual([]);
    expect(websocket.paused).toBe(false);
  });

  it('stops reading a client whose output waits, refuses what it still sends past the larger bound, and reads again once it drained', () => {
    const { socket, websocket, transport } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner });
    connection.admission = true;
    // Past the pause: this event still runs (a reading client's next event waits in TCP, it is never refused).
    websocket.bufferedAmount = settings.outputPauseBytes + 1;
    connection.receive('runs');
    expect(handled).toEqual(['runs']);
    expect(websocket.paused).toBe(true);
    // Frames of the same read that come past the refusal bound: refused, the first one presented only.
    websocket.bufferedAmount = settings.outputRefuseBytes + 1;
    connection.receive('refused-1');
    connection.receive('refused-2');
    expect(handled).toEqual(['runs']);
    expect(errors).toEqual([
      { code: 'busy', present: true },
      { code: 'busy', present: false },
    ]);
    // What waits in Engine.IO's queue counts too (the WebSocket's buffer empty).
    websocket.bufferedAmount = 0;
    const conn = socket.conn as unknown as { writeBuffer: unknown[] };
    conn.writeBuffer.push('x');
    connection.countOutput('x'.repeat(settings.outputRefuseBytes + 1), 0, 0);
    connection.receive('refused-3');
    expect(handled).toEqual(['runs']);
    expect(errors).toHaveLength(3);
    // A batch left, but most still waits: not read yet.
    transport.emit('drain');
    expect(websocket.paused).toBe(true);
    // The client read it (the transport handed the rest to the kernel): the socket is read again at once.
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    expect(websocket.paused).toBe(false);
    expect(transport.listenerCount('drain')).toBe(0);
    connection.receive('after');
    expect(handled).toEqual(['runs', 'after']);
  });

  it('presents the first refusal of each backlog again once it drained, on a socket it could not pause too', () => {
    // Long polling: there is no WebSocket to pause, so only the refusals bound what the client asks for.
    const { socket, transport } = fakeSocket({ polling: true });
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner });
    connection.admission = true;
    const conn = socket.conn as unknown as { writeBuffer: unknown[] };
    const backlog = () => {
      conn.writeBuffer.push('x');
      connection.countOutput('x'.repeat(settings.outputRefuseBytes + 1), 0, 0);
    };
    backlog();
    connection.receive('refused-1');
    connection.receive('refused-2');
    expect(errors.map((error) => error.present)).toEqual([true, false]);
    // The client polled: the backlog left.
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    connection.receive('runs');
    expect(handled).toEqual(['runs']);
    // A later backlog is a new one: its first refusal is shown to the user again.
    backlog();
    connection.receive('refused-3');
    expect(errors.map((error) => error.present)).toEqual([true, false, true]);
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    expect(transport.listenerCount('drain')).toBe(0);
  });
});

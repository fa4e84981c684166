import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import type { Socket } from 'socket.io';
import type { BridgeError } from '../protocol/bridge-error.js';
import type { EventClient } from '../common/event-client.js';
import { connectionLimitSettings } from '../security/connection-limits.js';
import { WorkerOutputBudget } from '../security/worker-output-budget.js';
import { SocketConnection, type SocketConnectionOwner } from './socket-connection.js';
import { TokenQueue } from '../pipeline/token-queue.js';
import { isSmallInteger } from '../common/small-integer.spec.support.js';

/** The parts of a Socket.IO socket a connection reads: its Engine.IO queue, its WebSocket's buffer and pause. */
function fakeSocket(options: { polling?: boolean } = {}) {
  const websocket = { paused: false, bufferedAmount: 0, pause: () => void (websocket.paused = true), resume: () => void (websocket.paused = false) };
  const transport = Object.assign(new EventEmitter(), { socket: options.polling ? undefined : websocket });
  const conn = { writeBuffer: [] as unknown[], transport, request: options.polling ? {} : { websocket } };
  const socket = { id: 'sid', connected: true, handshake: { query: { token: 'token-1234' }, issued: 0, address: '' }, conn };
  return { socket: socket as unknown as Socket, websocket, transport };
}

/** A pipeline that records what reaches it; events held count against `queue`'s worker total, as in the pipeline. */
function recordingOwner(queue = new TokenQueue()) {
  const handled: unknown[] = [];
  const errors: Array<{ code: string; present: boolean | undefined }> = [];
  const owner: SocketConnectionOwner = {
    handle: (_client: EventClient, frame: unknown) => void handled.push(frame),
    isQueueFull: () => false,
    stopsReading: () => false,
    connectionBlockedForMs: () => 0,
    nextEventRefusedForMs: () => 0,
    onQueueDrained: () => undefined,
    reportError: (_client: EventClient, error: BridgeError, _name?: string, present?: boolean) => void errors.push({ code: error.code, present }),
    chargeConnection: () => 0,
    reserveHeld: (bytes: number) => queue.reserve(bytes),
    releaseHeld: (bytes: number) => queue.release(bytes),
  };
  return { owner, handled, errors };
}

describe('SocketConnection', () => {
  const maxOutboundBytes = 1_600_000;
  const settings = connectionLimitSettings('/_event', 100_000, maxOutboundBytes);
  /** Delivers an event of a frame of `size` characters, as Engine.IO's packet and then Socket.IO's event do. */
  const deliver = (connection: SocketConnection, frame: string, size = 100) => {
    connection.inspectFrame(settings.eventPrefix.padEnd(size, ' '));
    connection.receive(frame);
  };

  it('listens for the other events a socket may send from its first message that is not an event, once', () => {
    const socket = Object.assign(new EventEmitter(), fakeSocket().socket) as unknown as Socket & EventEmitter;
    const { owner } = recordingOwner();
    const pings: unknown[] = [];
    const ping = function (this: Socket): void {
      pings.push(this);
    };
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [['ping', ping], ['client_error', () => undefined]], routerVars: 'auto' });
    // A tab that only sends events never has them.
    connection.inspectFrame(`${settings.eventPrefix}{"name":"a.b"}]`);
    expect(socket.eventNames()).toEqual([]);
    // Any other message: in place before Socket.IO decodes and delivers it.
    connection.inspectFrame('2/_event,["ping"]');
    socket.emit('ping');
    expect(pings).toEqual([socket]);
    connection.inspectFrame('2/_event,1["event",{}]');
    expect(socket.listenerCount('ping')).toBe(1);
    expect(socket.listenerCount('client_error')).toBe(1);
  });

  it('keeps its page load time inside the object, a small integer, and gives back the Date.now() time it was given', () => {
    const { owner } = recordingOwner();
    const connection = new SocketConnection(fakeSocket().socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    expect(connection.pageLoadedAt).toBeUndefined();
    const at = Date.now();
    connection.pageLoadedAt = at;
    expect(connection.pageLoadedAt).toBe(at);
    // A `Date.now()` time is a number object of its own: 16 bytes more for every connection that loaded a page.
    expect(isSmallInteger((connection as unknown as { pageLoadedSince: unknown }).pageLoadedSince)).toBe(true);
  });

  it('runs events while the client reads its answers', () => {
    const { socket, websocket } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    websocket.bufferedAmount = settings.outputPauseBytes;
    deliver(connection, 'a');
    deliver(connection, 'b');
    expect(handled).toEqual(['a', 'b']);
    expect(errors).toEqual([]);
    expect(websocket.paused).toBe(false);
  });

  it('stops reading a client whose output waits, holds what it still sends past the larger bound (refusing past a few), and reads again once it drained', () => {
    const { socket, websocket, transport } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    // Past the pause: this event still runs (a reading client's next event waits in TCP, it is never refused).
    websocket.bufferedAmount = settings.outputPauseBytes + 1;
    deliver(connection, 'runs');
    expect(handled).toEqual(['runs']);
    expect(websocket.paused).toBe(true);
    // Frames of the same read that come past the refusal bound: the first few wait, the rest are refused, the first
    // refusal presented only.
    websocket.bufferedAmount = settings.outputRefuseBytes + 1;
    const frames = Array.from({ length: 10 }, (_, i) => `held-${i}`);
    for (const frame of frames) deliver(connection, frame);
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
    // A batch left, but most still waits: not read yet, nothing held runs.
    transport.emit('drain');
    expect(websocket.paused).toBe(true);
    expect(handled).toEqual(['runs']);
    // The client read it (the transport handed the rest to the kernel): the held events run, in order, and the
    // socket is read again at once.
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    expect(handled).toEqual(['runs', ...frames.slice(0, 8)]);
    expect(websocket.paused).toBe(false);
    expect(transport.listenerCount('drain')).toBe(0);
    deliver(connection, 'after');
    expect(handled).toEqual(['runs', ...frames.slice(0, 8), 'after']);
  });

  it("holds a slow link's click that arrives while live changes the server sent still wait, instead of refusing it with a toast", () => {
    const { socket, websocket, transport } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    // The server sent a burst of live changes (a big list, each change the whole list) faster than the link carries.
    websocket.bufferedAmount = settings.outputRefuseBytes + 1;
    deliver(connection, 'click');
    expect(errors).toEqual([]);
    // A frame read meanwhile goes after it, not before, even once the backlog is below the bound.
    websocket.bufferedAmount = settings.outputPauseBytes;
    deliver(connection, 'second click');
    expect(handled).toEqual([]);
    websocket.bufferedAmount = 0;
    transport.emit('drain');
    expect(handled).toEqual(['click', 'second click']);
    expect(errors).toEqual([]);
  });

  it('holds at most maxMessageBytes of frames (the first whatever its size), refusing the rest', () => {
    const { socket, websocket, transport } = fakeSocket();
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    websocket.bufferedAmount = settings.outputRefuseBytes + 1;
    deliver(connection, 'big', settings.maxMessageBytes);
    deliver(connection, 'one too many');
    expect(errors).toEqual([{ code: 'busy', present: true }]);
    websocket.bufferedAmount = 0;
    transport.emit('drain');
    expect(handled).toEqual(['big']);
  });

  it("holds events of many connections within the worker's maxTotalQueuedBytes, refusing past it, and gives it back once they ran", () => {
    // Each connection holds its first event up to twice maxMessageBytes (counted with its parsed values): a client with
    // 64 connections (maxTotalOutboundBytes) from several addresses made the worker hold ~2 MB on each, with no total.
    const queue = new TokenQueue({ maxQueuedEvents: 100, maxQueuedBytes: 4_000_000, maxTotalQueuedBytes: 3 * settings.maxMessageBytes });
    const connections = Array.from({ length: 5 }, () => {
      const { socket, websocket, transport } = fakeSocket();
      const { owner, handled, errors } = recordingOwner(queue);
      const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
      connection.admission = true;
      websocket.bufferedAmount = settings.outputRefuseBytes + 1;
      return { connection, websocket, transport, handled, errors };
    });
    for (const { connection } of connections) deliver(connection, 'big', settings.maxMessageBytes);
    expect(connections.map(({ errors }) => errors.length)).toEqual([0, 0, 0, 1, 1]);
    expect(connections[3]!.errors).toEqual([{ code: 'busy', present: true }]);
    expect(queue.queuedBytes).toBeLessThanOrEqual(3 * settings.maxMessageBytes);
    // The first client read its output: its event runs, and what it held is the worker's again.
    const first = connections[0]!;
    first.websocket.bufferedAmount = 0;
    first.transport.emit('drain');
    expect(first.handled).toEqual(['big']);
    expect(queue.queuedBytes).toBe(2 * settings.maxMessageBytes);
    deliver(connections[4]!.connection, 'again', settings.maxMessageBytes);
    expect(connections[4]!.errors).toHaveLength(1);
    for (const { websocket, transport } of connections) {
      websocket.bufferedAmount = 0;
      transport.emit('drain');
    }
    expect(queue.queuedBytes).toBe(0);
  });

  it('runs nothing it held for a client that left meanwhile', async () => {
    const { socket, websocket, transport } = fakeSocket();
    const { owner, handled } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    websocket.bufferedAmount = settings.outputRefuseBytes + 1;
    deliver(connection, 'held');
    (socket as unknown as { connected: boolean }).connected = false;
    transport.emit('drain');
    expect(handled).toEqual([]);
    expect(transport.listenerCount('drain')).toBe(0);
  });

  it('presents the first refusal of each backlog again once it drained, on a socket it could not pause too', () => {
    // Long polling: there is no WebSocket to pause, so only the refusals bound what the client asks for.
    const { socket, transport } = fakeSocket({ polling: true });
    const { owner, handled, errors } = recordingOwner();
    const connection = new SocketConnection(socket, {}, { ...settings, owner, outputBudget: new WorkerOutputBudget(256_000_000, settings.outputPauseBytes), coldListeners: [], routerVars: 'auto' });
    connection.admission = true;
    const conn = socket.conn as unknown as { writeBuffer: unknown[] };
    const backlog = () => {
      conn.writeBuffer.push('x');
      connection.countOutput('x'.repeat(settings.outputRefuseBytes + 1), 0, 0);
    };
    const held = (prefix: string) => Array.from({ length: 8 }, (_, i) => `${prefix}-${i}`);
    backlog();
    for (const frame of held('first')) deliver(connection, frame);
    deliver(connection, 'refused-1');
    deliver(connection, 'refused-2');
    expect(errors.map((error) => error.present)).toEqual([true, false]);
    // The client polled: the backlog left.
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    deliver(connection, 'runs');
    expect(handled).toEqual([...held('first'), 'runs']);
    // A later backlog is a new one: its first refusal is shown to the user again.
    backlog();
    for (const frame of held('second')) deliver(connection, frame);
    deliver(connection, 'refused-3');
    expect(errors.map((error) => error.present)).toEqual([true, false, true]);
    conn.writeBuffer.length = 0;
    transport.emit('drain');
    expect(transport.listenerCount('drain')).toBe(0);
  });
});

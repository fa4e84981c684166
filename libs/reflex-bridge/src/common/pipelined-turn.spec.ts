import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { whenAnswerable } from './pipelined-turn.js';

/** A connection and the queued answers of requests pipelined on it (no socket yet). */
function pipelined(count: number) {
  const connection = Object.assign(new EventEmitter(), { destroyed: false });
  const requests = Array.from({ length: count }, () => {
    const res = Object.assign(new EventEmitter(), { socket: null });
    return { req: { socket: connection } as unknown as IncomingMessage, res };
  });
  return { connection, requests };
}

describe('whenAnswerable', () => {
  it('is true at once for an answer being written', () => {
    const res = { socket: {} } as unknown as ServerResponse;
    expect(whenAnswerable({ socket: {} } as unknown as IncomingMessage, res)).toBe(true);
  });

  it('waits for each queued answer\'s turn with one close listener per connection, however many are pipelined', async () => {
    const { connection, requests } = pipelined(50);
    const turns = requests.map(({ req, res }) => whenAnswerable(req, res as unknown as ServerResponse));
    // Node warns past ten listeners of one event on one emitter.
    expect(connection.listenerCount('close')).toBe(1);
    requests[0]!.res.emit('socket', {});
    requests[1]!.res.emit('socket', {});
    await expect(turns[0]).resolves.toBe(true);
    await expect(turns[1]).resolves.toBe(true);
    connection.emit('close');
    await expect(Promise.all(turns.slice(2))).resolves.toEqual(Array(48).fill(false));
    // Nothing is left listening for a turn that cannot come.
    expect(requests.every(({ res }) => res.listenerCount('socket') === 0)).toBe(true);
  });

  it('is false for a request whose connection closed before it asked', async () => {
    const { connection, requests } = pipelined(1);
    connection.destroyed = true;
    await expect(whenAnswerable(requests[0]!.req, requests[0]!.res as unknown as ServerResponse)).resolves.toBe(false);
    expect(connection.listenerCount('close')).toBe(0);
  });
});

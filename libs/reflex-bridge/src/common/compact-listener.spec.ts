import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { addListenerCompactly, compactListeners } from './compact-listener.js';

describe('addListenerCompactly', () => {
  it('adds a third listener that runs in order with the others, and can be removed again', () => {
    const emitter = new EventEmitter();
    const calls: string[] = [];
    emitter.on('close', () => calls.push('first'));
    emitter.once('close', () => calls.push('once'));
    const third = (): void => void calls.push('third');
    addListenerCompactly(emitter, 'close', third);
    expect(emitter.listenerCount('close')).toBe(3);
    emitter.emit('close');
    expect(calls).toEqual(['first', 'once', 'third']);
    emitter.off('close', third);
    emitter.emit('close');
    expect(calls).toEqual(['first', 'once', 'third', 'first']);
  });

  it('leaves an emit under way with the listeners it started with', () => {
    const emitter = new EventEmitter();
    const calls: string[] = [];
    emitter.on('data', () => {
      calls.push('first');
      // Added while the event is being emitted: it runs from the next emit on, as with `on()`.
      if (emitter.listenerCount('data') === 2) addListenerCompactly(emitter, 'data', () => void calls.push('added'));
    });
    emitter.on('data', () => void calls.push('second'));
    emitter.emit('data');
    expect(calls).toEqual(['first', 'second']);
    emitter.emit('data');
    expect(calls).toEqual(['first', 'second', 'first', 'second', 'added']);
  });

  it('hears a real TCP connection close after its own listeners', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = new Socket().connect((server.address() as AddressInfo).port, '127.0.0.1');
    const socket = await accepted;
    const heard: string[] = [];
    socket.on('close', () => heard.push('app'));
    addListenerCompactly(socket, 'close', function (this: Socket) {
      heard.push(this === socket ? 'compact, on the socket' : 'compact, elsewhere');
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    client.destroy();
    await closed;
    expect(heard).toEqual(['app', 'compact, on the socket']);
    await new Promise((resolve) => server.close(resolve));
  });
});

/**
 * Node 24's `EventEmitter` emits over a listener array itself and counts the emits under way on it (a symbol-keyed
 * number); a listener added or removed while the count is above 0 copies the array instead of changing it. These
 * specs give the array that shape by hand, so they run on every Node version (the specs above, on Node 24, check the
 * real thing: there a copy without the count skipped the listener after a `once` one).
 */
describe('compactListeners on listener arrays that carry marks of their own (Node 24)', () => {
  const emitting = Symbol('emitting');
  const listenersOf = (...names: string[]) => names.map((name) => () => name);

  it("gives the copy the array's marks: the count of emits under way and `warned`", () => {
    const listeners = Object.assign(listenersOf('a', 'b', 'c'), { [emitting]: 0, warned: true });
    const emitter = { _events: { close: listeners } as Record<string, unknown> };
    compactListeners(emitter, 'close');
    const copy = emitter._events['close'] as typeof listeners;
    expect(copy).not.toBe(listeners);
    expect([...copy]).toEqual([...listeners]);
    expect(copy[emitting]).toBe(0);
    expect(copy.warned).toBe(true);
  });

  it('leaves an array that is being emitted as it is', () => {
    const listeners = Object.assign(listenersOf('a', 'b', 'c'), { [emitting]: 1 });
    const emitter = { _events: { close: listeners } as Record<string, unknown> };
    compactListeners(emitter, 'close');
    expect(emitter._events['close']).toBe(listeners);
  });
});

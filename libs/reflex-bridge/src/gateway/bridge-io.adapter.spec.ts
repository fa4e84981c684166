import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { from, interval, isObservable, map, mergeAll, Observable, of } from 'rxjs';
import type { Socket } from 'socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { BridgeIoAdapter } from './bridge-io.adapter.js';
import { offerSharedDisconnect } from './shared-disconnect.listener.js';

/** A Socket.IO socket as an adapter uses it: listeners, `connected`, and what it emitted. */
class FakeSocket extends EventEmitter {
  connected = true;
  readonly sent: Array<[string, unknown]> = [];
  override emit(name: string, ...args: unknown[]): boolean {
    if (name === 'disconnect') {
      this.connected = false;
      return super.emit(name, ...args);
    }
    this.sent.push([name, args[0]]);
    return true;
  }
  /** What the client sent: Socket.IO calls the socket's listeners. */
  receive(name: string, ...args: unknown[]): void {
    super.emit(name, ...args);
  }
}

/** Nest's transform of a handler's result (`WebSocketsController.subscribeMessages`). */
const transform = (result: unknown): Observable<unknown> =>
  from(
    (async () => {
      const value = await result;
      return isObservable(value) ? value : of(value);
    })(),
  ).pipe(mergeAll());

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function handler(message: string, callback: (data: unknown, ack?: unknown) => unknown, isAckHandledManually = false): MessageMappingProperties {
  return { message, callback, isAckHandledManually } as unknown as MessageMappingProperties;
}

describe('BridgeIoAdapter', () => {
  it('adds nothing to a socket of a gateway without message handlers', () => {
    const adapter = new BridgeIoAdapter();
    const socket = new FakeSocket();
    adapter.bindMessageHandlers(socket as unknown as Socket, [], transform);
    expect(socket.eventNames()).toEqual([]);
  });

  it('answers as IoAdapter does: acknowledgement, WsResponse, manual acknowledgement, payload mapping', async () => {
    const adapter = new BridgeIoAdapter();
    const socket = new FakeSocket();
    const seen: unknown[] = [];
    adapter.bindMessageHandlers(
      socket as unknown as Socket,
      [
        handler('double', (data) => ({ n: (data as { n: number }).n * 2 })),
        handler('echo', (data) => ({ event: 'echoed', data })),
        handler('later', async (data) => (data as number) + 1),
        handler('manual', (data, ack) => {
          (ack as (value: unknown) => void)(`by hand: ${String(data)}`);
          return 'not sent';
        }, true),
        handler('args', (data) => void seen.push(data)),
      ],
      transform,
    );
    const acks: unknown[] = [];
    socket.receive('double', { n: 2 }, (value: unknown) => acks.push(value));
    socket.receive('echo', { x: 1 });
    socket.receive('later', 41, (value: unknown) => acks.push(value));
    socket.receive('manual', 'hi', (value: unknown) => acks.push(value));
    socket.receive('args', 'a', 'b');
    socket.receive('args', 'c', () => undefined);
    socket.receive('args');
    await settle();
    // The manual acknowledgement runs inside the handler; the others once its result settled.
    expect(acks).toEqual(['by hand: hi', { n: 4 }, 42]);
    expect(socket.sent).toEqual([['echoed', { x: 1 }]]);
    expect(seen).toEqual([['a', 'b'], 'c', undefined]);
  });

  it('shares one listener per message between sockets, and runs every handler bound to a message', async () => {
    const adapter = new BridgeIoAdapter();
    const first = new FakeSocket();
    const second = new FakeSocket();
    const calls: string[] = [];
    adapter.bindMessageHandlers(first as unknown as Socket, [handler('m', () => void calls.push('first a'))], transform);
    adapter.bindMessageHandlers(first as unknown as Socket, [handler('m', () => void calls.push('first b'))], transform);
    adapter.bindMessageHandlers(second as unknown as Socket, [handler('m', () => void calls.push('second'))], transform);
    expect(first.listeners('m')).toEqual(second.listeners('m'));
    first.receive('m');
    second.receive('m');
    await settle();
    expect(calls).toEqual(['first a', 'first b', 'second']);
  });

  it('keeps handling messages after a handler failed', async () => {
    const adapter = new BridgeIoAdapter();
    const socket = new FakeSocket();
    let calls = 0;
    adapter.bindMessageHandlers(
      socket as unknown as Socket,
      [
        handler('m', () => {
          calls++;
          if (calls === 1) throw new Error('first call fails');
          return 'ok';
        }),
      ],
      transform,
    );
    (adapter as unknown as { logger: { error(): void } }).logger.error = () => undefined;
    const acks: unknown[] = [];
    socket.receive('m', null, (value: unknown) => acks.push(value));
    socket.receive('m', null, (value: unknown) => acks.push(value));
    await settle();
    expect(acks).toEqual(['ok']);
  });

  it('ends a stream a socket started when the socket leaves, and calls the disconnect callback', async () => {
    const adapter = new BridgeIoAdapter();
    const socket = new FakeSocket();
    let ended = false;
    adapter.bindMessageHandlers(
      socket as unknown as Socket,
      [
        handler('ticks', () =>
          new Observable<{ event: string; data: number }>((subscriber) => {
            const timer = interval(1).pipe(map((i) => ({ event: 'tick', data: i }))).subscribe(subscriber);
            return () => {
              ended = true;
              timer.unsubscribe();
            };
          }),
        ),
      ],
      transform,
    );
    const reasons: unknown[] = [];
    adapter.bindClientDisconnect(socket as unknown as Socket, (reason: unknown) => reasons.push(reason));
    socket.receive('ticks');
    while (socket.sent.length < 2) await settle();
    socket.emit('disconnect', 'client namespace disconnect');
    expect(ended).toBe(true);
    expect(reasons).toEqual(['client namespace disconnect']);
  });

  it("gives the sockets of the bridge's namespace, when its gateway is the only one there, the gateway's shared disconnect listener instead of a closure each", () => {
    const adapter = new BridgeIoAdapter();
    const namespace = new EventEmitter();
    const left: unknown[] = [];
    offerSharedDisconnect(namespace, function (this: Socket): void {
      left.push(this);
    });
    adapter.bindClientConnect(namespace, () => undefined);
    const first = Object.assign(new FakeSocket(), { nsp: namespace });
    const second = Object.assign(new FakeSocket(), { nsp: namespace });
    const nestCalls: unknown[] = [];
    // Nest's callback for each socket: a closure that holds the socket (about 100 bytes per idle connection).
    for (const socket of [first, second]) adapter.bindClientDisconnect(socket as unknown as Socket, () => nestCalls.push(socket));
    expect(first.listeners('disconnect')).toHaveLength(1);
    expect(first.listeners('disconnect')).toEqual(second.listeners('disconnect'));
    first.emit('disconnect', 'transport close');
    second.emit('disconnect', 'client namespace disconnect');
    expect(left).toEqual([first, second]);
    expect(nestCalls).toEqual([]);
  });

  it("calls Nest's callbacks as before on a namespace shared with another gateway, and where no gateway offered a listener", () => {
    const adapter = new BridgeIoAdapter();
    const shared = new EventEmitter();
    offerSharedDisconnect(shared, () => undefined);
    adapter.bindClientConnect(shared, () => undefined);
    adapter.bindClientConnect(shared, () => undefined);
    const other = new EventEmitter();
    adapter.bindClientConnect(other, () => undefined);
    const calls: unknown[] = [];
    for (const namespace of [shared, other]) {
      const socket = Object.assign(new FakeSocket(), { nsp: namespace });
      adapter.bindClientDisconnect(socket as unknown as Socket, (reason: unknown) => calls.push(reason));
      socket.emit('disconnect', 'transport close');
    }
    expect(calls).toEqual(['transport close', 'transport close']);
  });
});

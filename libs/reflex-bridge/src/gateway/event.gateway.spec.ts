import { describe, expect, it, jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { HttpAdapterHost } from '@nestjs/core';
import type { Namespace, Socket } from 'socket.io';
import { resolveOptions } from '../reflex-bridge.options.js';
import { ConnectionLifecycle } from '../common/connection-lifecycle.js';
import type { EventClient } from '../common/event-client.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { refuseSessionIdRequests } from '../security/engine-session-id.guard.js';
import { noStoreEngineAnswers } from '../security/no-store.engine-middleware.js';
import { closeAfterEngineAnswers } from '../security/close-after-engine-answers.engine-middleware.js';
import type { EventPipeline } from '../pipeline/event-pipeline.service.js';
import type { TokenOwnership } from '../security/token-ownership.service.js';
import { ClientRegistry } from './client-registry.js';
import { EventGateway } from './event.gateway.js';
import type { SessionTracker } from './session-tracker.service.js';

const TOKEN = 'a1b2c3d4-0000-4000-8000-000000000001';

/** A Socket.IO socket as the gateway uses it: handshake, events, its Engine.IO connection, emit and disconnect. */
class FakeSocket extends EventEmitter {
  readonly id: string;
  connected = true;
  readonly sent: Array<[string, unknown]> = [];
  readonly rooms = new Set<string>();
  readonly handshake: { query: Record<string, unknown>; headers: Record<string, string>; address: string };
  readonly conn = Object.assign(new EventEmitter(), { transport: new EventEmitter(), request: {}, writeBuffer: [] as unknown[] });

  constructor(id: string, token = TOKEN) {
    super();
    this.id = id;
    this.handshake = { query: { token }, headers: { cookie: 'sid=1', 'user-agent': 'spec' }, address: '127.0.0.1' };
  }
  override emit(name: string, ...args: unknown[]): boolean {
    if (name === 'event' || name === 'bridge_error' || name === 'new_token') {
      this.sent.push([name, args[0]]);
      return true;
    }
    return super.emit(name, ...args);
  }
  /** What the client sent: Socket.IO calls the socket's listeners. */
  receive(name: string, ...args: unknown[]): void {
    super.emit(name, ...args);
  }
  join(room: string): void {
    this.rooms.add(room);
  }
  disconnect(): void {
    this.connected = false;
  }
}

/** A gateway over fakes: the pipeline records what it was handed; admission resolves when the test says. */
/** Waits for `condition`, checking every few milliseconds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

function gatewayWith(options: { admit?: Promise<void> } = {}) {
  const handled: Array<{ token: string | undefined; frame: unknown }> = [];
  const held = { bytes: 0 };
  const pipeline = {
    handle: jest.fn((client: EventClient, frame: unknown) => void handled.push({ token: client.token, frame })),
    isQueueFull: () => false,
    stopsReading: () => false,
    connectionBlockedForMs: () => 0,
    nextEventRefusedForMs: () => 0,
    onQueueDrained: () => undefined,
    // Events held during admission count against the worker's total (maxTotalQueuedBytes) until admitted.
    reserveHeld: (bytes: number) => {
      held.bytes += bytes;
      return true;
    },
    releaseHeld: (bytes: number) => void (held.bytes -= bytes),
  } as unknown as EventPipeline;
  const sessions = {
    track: async () => {
      await options.admit;
      return { known: true };
    },
    attach: jest.fn(),
  } as unknown as SessionTracker;
  const ownership = { enabled: false } as unknown as TokenOwnership;
  const lifecycle = new ConnectionLifecycle();
  const registry = new ClientRegistry(lifecycle);
  class SpecGateway extends EventGateway {}
  const gateway = new SpecGateway(resolveOptions({}), pipeline, registry, sessions, new OriginPolicy(), ownership, lifecycle);
  return { gateway, handled, registry, lifecycle, sessions, held };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('EventGateway', () => {
  it('refuses a handshake without a well-formed token with the no_token code, and closes its connection', async () => {
    const { gateway, sessions } = gatewayWith();
    let middleware: ((socket: unknown, next: (error?: Error & { data?: unknown }) => void) => void) | undefined;
    // Any adapter other than socket.io's in-memory one counts as a cluster adapter.
    const engineMiddlewares: unknown[] = [];
    const namespace = {
      use: (fn: typeof middleware) => (middleware = fn),
      adapter: new (class ClusterAdapter {})(),
      server: { engine: { use: (fn: unknown) => engineMiddlewares.push(fn), on: () => undefined } },
    } as unknown as Namespace;
    gateway.afterInit(namespace);
    expect(sessions.attach).toHaveBeenCalledWith(namespace, true, expect.any(Function));
    expect(engineMiddlewares).toEqual([noStoreEngineAnswers, closeAfterEngineAnswers, refuseSessionIdRequests, gateway.connectionsPerAddress.middleware]);
    const outcomes: Array<unknown> = [];
    let closed = 0;
    for (const token of [undefined, '', 'short', ['a', 'b'], 'x'.repeat(200), TOKEN]) {
      middleware!({ handshake: { query: { token } }, conn: { close: () => closed++ } }, (error) => outcomes.push(error ? error.data : 'accepted'));
    }
    expect(outcomes).toEqual([{ code: 'no_token' }, { code: 'no_token' }, { code: 'no_token' }, { code: 'no_token' }, { code: 'no_token' }, 'accepted']);
    // Each refused connection is closed once its refusal is queued (on the next tick).
    await new Promise((resolve) => process.nextTick(resolve));
    expect(closed).toBe(5);
  });

  it('holds events that arrive during admission and hands them to the pipeline in order once admitted', async () => {
    let admit!: () => void;
    const { gateway, handled, registry, held } = gatewayWith({ admit: new Promise<void>((resolve) => (admit = resolve)) });
    const socket = new FakeSocket('s1');
    gateway.handleConnection(socket as unknown as Socket);
    socket.receive('event', { name: 'first' });
    socket.receive('event', { name: 'second' });
    await settle();
    expect(handled).toEqual([]);
    expect(held.bytes).toBeGreaterThan(0);
    admit();
    await settle();
    expect(held.bytes).toBe(0);
    socket.receive('event', { name: 'third' });
    expect(handled.map((event) => (event.frame as { name: string }).name)).toEqual(['first', 'second', 'third']);
    expect(registry.get(TOKEN)).toBeDefined();
    // One worker: no token room (it only carries updates from other workers, and costs every connection memory).
    expect(socket.rooms.has(`rx:token:${TOKEN}`)).toBe(false);
  });

  it('runs nothing for a socket that left during admission, and keeps nothing of it', async () => {
    let admit!: () => void;
    const { gateway, handled, registry, held } = gatewayWith({ admit: new Promise<void>((resolve) => (admit = resolve)) });
    const socket = new FakeSocket('s1');
    gateway.handleConnection(socket as unknown as Socket);
    socket.receive('event', { name: 'early' });
    socket.disconnect();
    gateway.handleDisconnect(socket as unknown as Socket);
    admit();
    await settle();
    expect(handled).toEqual([]);
    expect(held.bytes).toBe(0);
    expect(registry.get(TOKEN)).toBeUndefined();
  });

  it('gives a second socket presenting a held token a new token, and reports each closed connection once', async () => {
    const { gateway, registry, lifecycle } = gatewayWith();
    const closed: string[] = [];
    lifecycle.onClosed((client) => closed.push(client.sid));
    const first = new FakeSocket('s1');
    const second = new FakeSocket('s2');
    gateway.handleConnection(first as unknown as Socket);
    await settle();
    gateway.handleConnection(second as unknown as Socket);
    // The holder stays: once its grace to leave has passed, the second socket gets its own token.
    await until(() => second.sent.some(([name]) => name === 'new_token'));
    const renewed = second.sent.find(([name]) => name === 'new_token')?.[1] as string;
    expect(renewed).toMatch(/^[0-9a-f-]{36}$/);
    expect(registry.get(renewed)?.sid).toBe('s2');
    expect(registry.get(TOKEN)?.sid).toBe('s1');
    gateway.handleDisconnect(first as unknown as Socket);
    gateway.handleDisconnect(first as unknown as Socket);
    expect(closed).toEqual(['s1']);
    expect(registry.get(TOKEN)).toBeUndefined();
  });

  it('lets a second socket presenting a held token keep it when the holder leaves meanwhile (a reloaded tab)', async () => {
    const { gateway, registry } = gatewayWith();
    const first = new FakeSocket('s1');
    const second = new FakeSocket('s2');
    const third = new FakeSocket('s3');
    gateway.handleConnection(first as unknown as Socket);
    await settle();
    gateway.handleConnection(second as unknown as Socket);
    gateway.handleConnection(third as unknown as Socket);
    await settle();
    first.connected = false;
    gateway.handleDisconnect(first as unknown as Socket);
    // Both waited for the same holder: one takes the token over, the other is a duplicate of it.
    await until(() => [second, third].some((socket) => socket.sent.some(([name]) => name === 'new_token')));
    const renewedOf = (socket: FakeSocket) => socket.sent.find(([name]) => name === 'new_token')?.[1];
    const [kept, duplicate] = renewedOf(second) === undefined ? [second, third] : [third, second];
    expect(renewedOf(kept)).toBeUndefined();
    expect(registry.get(TOKEN)?.sid).toBe(kept.id);
    expect(registry.get(renewedOf(duplicate) as string)?.sid).toBe(duplicate.id);
  });

  it('delivers out-of-band updates to the local socket holding a token, and to nobody for an unknown one', async () => {
    const { gateway } = gatewayWith();
    const socket = new FakeSocket('s1');
    gateway.handleConnection(socket as unknown as Socket);
    await settle();
    gateway.clientFor(TOKEN)!.emitUpdate({ delta: { s: { v_rx_state_: 1 } } });
    expect(socket.sent).toContainEqual(['event', { delta: { s: { v_rx_state_: 1 } } }]);
    expect(gateway.clientFor('b1b2c3d4-0000-4000-8000-000000000009')).toBeUndefined();
  });

  it('answers ping with pong and logs client_error reports without trusting them', () => {
    const { gateway } = gatewayWith();
    expect(gateway.onPing()).toEqual({ event: 'ping', data: 'pong' });
    const socket = new FakeSocket('s1');
    expect(() => gateway.onClientError(socket as unknown as Socket, { message: { toString: 1 } })).not.toThrow();
  });
});

describe('EventGateway at shutdown', () => {
  function shuttingDown(stop: () => Promise<void>) {
    const pipeline = { stop: jest.fn(stop) } as unknown as EventPipeline;
    const lifecycle = new ConnectionLifecycle();
    const adapter: { beforeClose?: () => unknown } = {};
    class SpecGateway extends EventGateway {}
    const gateway = new SpecGateway(
      resolveOptions({}),
      pipeline,
      new ClientRegistry(lifecycle),
      {} as unknown as SessionTracker,
      new OriginPolicy(),
      { enabled: false } as unknown as TokenOwnership,
      lifecycle,
      undefined,
      { httpAdapter: adapter } as unknown as HttpAdapterHost,
    );
    gateway.onModuleInit();
    return { gateway, pipeline, adapter };
  }

  it("drains from the HTTP adapter's beforeClose, once: onModuleDestroy then waits for the same drain", async () => {
    const { gateway, pipeline, adapter } = shuttingDown(async () => undefined);
    await adapter.beforeClose?.();
    await gateway.onModuleDestroy();
    expect(pipeline.stop).toHaveBeenCalledTimes(1);
  });

  it("does not end Nest's shutdown when the drain fails (before any hook ran, every connection would stay open)", async () => {
    const { gateway, adapter } = shuttingDown(async () => {
      throw new Error('a stop listener threw');
    });
    await expect(Promise.resolve(adapter.beforeClose?.())).resolves.toBeUndefined();
    await expect(gateway.onModuleDestroy()).resolves.toBeUndefined();
  });
});

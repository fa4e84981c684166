import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { eventually } from '../../../test/support/eventually.js';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Namespace, type Socket as ServerSocket } from 'socket.io';
import type { BridgeErrorPayload } from './bridge-error.types.js';
import type { ClientEvent, RedirectOptions } from './client-event.types.js';
import { ConnectionError } from './connection.error.js';
import type { ConnectionStatus } from './connection.status.js';
import type { OutboundEvent } from './outbound-event.types.js';
import { HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, ROOT_STATE_NAME, UPDATE_VARS_INTERNAL_EVENT } from './protocol.constants.js';
import { ReflexClient } from './reflex.client.js';
import type { ReflexClientOptions } from './reflex-client.options.js';
import type { StateUpdate } from './state-update.types.js';
import type { TokenStorage } from './token.store.js';

const ROOT = ROOT_STATE_NAME;
const COUNTER = `${ROOT}.counter_state`;
const FILTER = `${ROOT}.filter_state`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One `event` message as the test server received it, with the token of the socket it came on. */
interface Received extends OutboundEvent {
  token: string;
  socketId: string;
}

/**
 * A tiny Reflex-speaking socket.io server: the same path and namespace, a token check in the handshake,
 * the hydrate sequence, a counter state, frontend events and `bridge_error` for unknown handlers.
 */
class TestReflexServer {
  readonly handshakes: string[] = [];
  readonly received: Received[] = [];
  readonly clientErrors: unknown[] = [];
  /** `closing_ack` answers: the id of the socket each came on, and how many events that socket had sent before it. */
  readonly closingAcks: Array<{ socketId: string; eventsBefore: number }> = [];
  /** The `closing_notice` query value of each handshake. */
  readonly closingNoticeQueries: unknown[] = [];
  /** HTTP requests to the server (the session cookie handoff): method, path and headers. */
  readonly httpRequests: Array<{ method: string; url: string; headers: Record<string, unknown> }> = [];
  /** While true, a handshake is never answered (a server half up after a restart, its connect middleware stuck). */
  stallHandshakes = false;
  /** Handshakes left unanswered while `stallHandshakes` was set. */
  stalled = 0;
  /** Status the handoff URL answers with. */
  handoffStatus = 200;
  /** Frontend events the answer to `on_load_internal` carries (a page whose on-load handler returns them). */
  onLoadEvents: Array<{ name: string; payload: Record<string, unknown> }> = [];
  /**
   * While set, the server is draining for a shutdown, as ReflexBridge's: the app's events are not run but answered
   * `server_stopping`, with their payload unless this is `'without payload'` (an older server).
   */
  stopping: false | 'with payload' | 'without payload' = false;
  /** Tokens the server replaces (sends `new_token`) when a socket connects with them. */
  readonly replaceTokens = new Map<string, string>();
  private readonly counts = new Map<string, number>();
  private http!: HttpServer;
  private io!: Server;
  private nsp!: Namespace;
  url = '';

  async start(): Promise<void> {
    this.http = createServer((request, response) => {
      this.httpRequests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      response.statusCode = this.handoffStatus;
      response.end('{}');
    });
    this.io = new Server(this.http, { path: '/_event', transports: ['websocket'] });
    this.nsp = this.io.of('/_event');
    this.nsp.use((socket, next) => {
      if (this.stallHandshakes) {
        this.stalled += 1;
        return;
      }
      const token = socket.handshake.query['token'];
      if (typeof token !== 'string' || token.length === 0) return next(new Error('Missing client token.'));
      if (!UUID.test(token)) return next(new Error('Malformed client token.'));
      next();
    });
    this.nsp.on('connection', (socket) => this.onConnection(socket));
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      void this.io.close(() => resolve());
    });
  }

  /** Closes every client connection at the transport (`transport close`), as a server ending its drain does. */
  closeTransports(): void {
    for (const socket of this.nsp.sockets.values()) socket.conn.close();
  }

  /**
   * Tells every client socket that the server closes it (`server_closing`), as ReflexBridge's drain ends, and records
   * the `closing_ack` answers (the socket's id), after what each sent before.
   */
  tellClosing(): void {
    for (const socket of this.nsp.sockets.values()) socket.emit('server_closing');
  }

  /** Answers an event `server_stopping` with its payload on every socket, as for an event sent before the notice came. */
  refuseStopping(name: string, payload: Record<string, unknown>): void {
    const error = { code: 'server_stopping', message: 'The server is shutting down; this event was not run.', event: name, payload };
    for (const socket of this.nsp.sockets.values()) socket.emit('bridge_error', error);
  }

  /** Drops every client socket from the server side. */
  dropAll(): void {
    for (const socket of this.nsp.sockets.values()) socket.disconnect(true);
  }

  get connectedCount(): number {
    return this.nsp.sockets.size;
  }

  /** Events received on the n-th connection (0-based) of the test. */
  eventsOfConnection(index: number): string[] {
    const ids = [...new Set(this.received.map((event) => event.socketId))];
    return this.received.filter((event) => event.socketId === ids[index]).map((event) => event.name);
  }

  private onConnection(socket: ServerSocket): void {
    let token = socket.handshake.query['token'] as string;
    this.handshakes.push(token);
    this.closingNoticeQueries.push(socket.handshake.query['closing_notice']);
    const replacement = this.replaceTokens.get(token);
    if (replacement) {
      this.replaceTokens.delete(token);
      this.counts.set(replacement, this.counts.get(token) ?? 0);
      token = replacement;
      socket.emit('new_token', replacement);
    }
    socket.on('event', (event: OutboundEvent) => this.onEvent(socket, token, event));
    socket.on('client_error', (report: unknown) => this.clientErrors.push(report));
    socket.on('closing_ack', () => this.closingAcks.push({ socketId: socket.id, eventsBefore: this.received.filter((event) => event.socketId === socket.id).length }));
    socket.on('ping', () => socket.emit('ping', 'pong'));
  }

  private onEvent(socket: ServerSocket, token: string, event: OutboundEvent): void {
    this.received.push({ ...event, token, socketId: socket.id });
    const count = this.counts.get(token) ?? 0;
    if (this.stopping && event.name !== HYDRATE_EVENT && event.name !== ON_LOAD_INTERNAL_EVENT) {
      const error = { code: 'server_stopping', message: 'The server is shutting down; this event was not run.', event: event.name };
      socket.emit('bridge_error', this.stopping === 'with payload' ? { ...error, payload: event.payload } : error);
      return;
    }
    switch (event.name) {
      case HYDRATE_EVENT:
        socket.emit('event', {
          delta: {
            [ROOT]: { is_hydrated_rx_state_: false, router_rx_state_: { page: { path: event.router_data.pathname } } },
            [COUNTER]: { count_rx_state_: count, label_rx_state_: 'clicks' },
          },
        } satisfies StateUpdate);
        break;
      case ON_LOAD_INTERNAL_EVENT:
        if (this.onLoadEvents.length > 0) socket.emit('event', { events: this.onLoadEvents });
        socket.emit('event', { delta: { [ROOT]: { is_hydrated_rx_state_: true } } });
        break;
      case `${COUNTER}.increment`: {
        const next = count + (typeof event.payload['by'] === 'number' ? event.payload['by'] : 1);
        this.counts.set(token, next);
        socket.emit('event', { delta: { [COUNTER]: { count_rx_state_: next } } });
        break;
      }
      case `${COUNTER}.checkout`:
        socket.emit('event', { delta: { [COUNTER]: { label_rx_state_: 'done' } } });
        socket.emit('event', {
          events: [
            { name: '_redirect', payload: { path: '/done', external: false, popup: false, replace: true }, router_data: {} },
            { name: '_call_function', payload: { function: '() => { globalThis.evaluated = true }', callback: null } },
            { name: `${COUNTER}.increment`, payload: { by: 10 } },
          ],
        });
        break;
      case `${COUNTER}.login`:
        // A ReflexBridge server's handoff: a function Reflex's client runs, the handoff alongside for this client.
        socket.emit('event', {
          events: [
            {
              name: '_call_function',
              payload: { function: '(() => { globalThis.evaluated = true })', callback: null, bridge_session_cookie: { url: '/_bridge/session-cookie/abc', secret: 's3cret' } },
            },
          ],
        });
        break;
      case `${COUNTER}.legacyLogin`:
        socket.emit('event', { events: [{ name: '_bridge_session_cookie', payload: { url: '/_bridge/session-cookie/abc', secret: 's3cret' } }] });
        break;
      case `${COUNTER}.refused`: {
        const error = { code: 'rate_limited', message: 'Too many events.', event: event.name, retryAfterMs: 1500 };
        socket.emit('bridge_error', error);
        socket.emit('event', {
          events: [{ name: '_call_function', payload: { function: '(() => { globalThis.evaluated = true })', callback: null, bridge_error: error } }],
        });
        break;
      }
      case `${COUNTER}.storage`:
        socket.emit('event', { events: [{ name: '_remove_local_storage', payload: { key: 'k' } }, { name: '_set_focus', payload: { ref: 'ref_name' } }] });
        break;
      case `${COUNTER}.logout`:
        // Reflex's rx.clear_session_storage() and rx.remove_session_storage('token'), as an app's logout may send.
        socket.emit('event', { events: [{ name: '_clear_session_storage', payload: {} }, { name: '_remove_session_storage', payload: { key: 'token' } }] });
        break;
      case `${COUNTER}.hostile`:
        // What a broken or hostile server might send: every frame must be ignored or applied, never crash the page.
        for (const frame of HOSTILE_FRAMES) socket.emit(frame.message, ...frame.args);
        socket.emit('event', { delta: { [COUNTER]: { label_rx_state_: 'survived' } } });
        break;
      case `${COUNTER}.live_subscribe`:
      case `${FILTER}.live_subscribe`:
        // A ReflexBridge server subscribes this connection and answers with the replayed changes, if any.
        break;
      default:
        socket.emit('bridge_error', { code: 'unknown_handler', message: `No handler named ${event.name}.`, event: event.name });
    }
  }
}

/** Malformed frames of every message the client listens to, and some it does not know. */
const HOSTILE_FRAMES: Array<{ message: string; args: unknown[] }> = [
  ...[null, 42, 'garbage', [], { delta: null }, { delta: [] }, { delta: 'x' }, { events: 'x' }, { events: {} }].map((update) => ({ message: 'event', args: [update] })),
  { message: 'event', args: [{ delta: { [COUNTER]: null, [ROOT]: null, other: 5, list: [1, 2] } }] },
  { message: 'event', args: [{ delta: { [COUNTER]: { label_rx_state_: null, ['__proto__']: { polluted: true } } } }] },
  { message: 'event', args: [{ delta: { [ROOT]: { is_hydrated_rx_state_: 'yes' } } }] },
  {
    message: 'event',
    args: [
      {
        events: [
          null,
          5,
          { name: 5 },
          { name: '' },
          { name: '_redirect', payload: null },
          { name: '_redirect', payload: { path: 5 } },
          { name: '_call_function', payload: { bridge_session_cookie: { url: 'http://[broken', secret: 1 } } },
          { name: '_bridge_session_cookie', payload: { url: 'http://[broken' } },
          { name: '_remove_local_storage', payload: { key: 7 } },
          { name: '_call_script', payload: { bridge_error: null } },
        ],
      },
    ],
  },
  ...[null, 'x', 5, { code: 5, message: {} }, { code: 'x', details: 'not a list' }, { code: 'x', details: [{}, null] }].map((error) => ({ message: 'bridge_error', args: [error] })),
  ...[null, 5, '', {}].map((token) => ({ message: 'new_token', args: [token] })),
  { message: 'ping', args: [] },
  { message: 'from_a_newer_server', args: [{ anything: true }] },
  // A frame far larger than any delta a page needs.
  { message: 'event', args: [{ delta: { [COUNTER]: { big_rx_state_: 'x'.repeat(4_000_000) } } }] },
];

/** Resolves on the first status in `statuses` (or rejects after `timeoutMs`). */
function nextStatus(client: ReflexClient, statuses: ConnectionStatus[], timeoutMs = 3000): Promise<ConnectionStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`status ${statuses.join('/')} not reached; status is ${client.status}`));
    }, timeoutMs);
    const stop = client.onStatus((status) => {
      if (!statuses.includes(status)) return;
      clearTimeout(timer);
      stop();
      resolve(status);
    });
  });
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ReflexClient against a real socket.io server', () => {
  let server: TestReflexServer;
  const clients: ReflexClient[] = [];

  const makeClient = (options: Partial<ReflexClientOptions> = {}): ReflexClient => {
    const client = new ReflexClient({ url: server.url, reconnect: { baseDelayMs: 50, maxDelayMs: 500 }, ...options });
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    server = new TestReflexServer();
    await server.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await server.stop();
  });

  it('connects to /_event with the token in the query, sends hydrate then on_load_internal, and resolves once hydrated', async () => {
    const client = makeClient();
    const statuses: ConnectionStatus[] = [];
    client.onStatus((status) => statuses.push(status));
    expect(client.status).toBe('idle');
    expect(client.url).toBe(`${server.url}/_event`);

    await client.connect();

    expect(server.handshakes).toEqual([client.token]);
    expect(client.token).toMatch(UUID);
    expect(server.received.map((event) => event.name)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT]);
    expect(server.received[0]!.payload).toEqual({});
    expect(server.received[0]!.router_data).toEqual({ pathname: '/', asPath: '/', query: {} });
    expect(client.status).toBe('ready');
    expect(client.hydrated).toBe(true);
    expect(statuses).toEqual(['connecting', 'connected', 'ready']);
    expect(client.state(ROOT)).toEqual({ is_hydrated: true, router: { page: { path: '/' } } });
    expect(client.state(COUNTER)).toEqual({ count: 0, label: 'clicks' });
    await expect(client.connect()).resolves.toBeUndefined();
  });

  it('sends events with the configured page as router_data', async () => {
    const client = makeClient({ page: '/posts/42?x=1#top' });
    await client.connect();
    expect(server.received[0]!.router_data).toEqual({ pathname: '/posts/42', asPath: '/posts/42?x=1#top', query: { x: '1' } });
    expect(client.state(ROOT)!['router']).toEqual({ page: { path: '/posts/42' } });

    client.navigate('/shop');
    await until(() => server.received.length === 3);
    expect(server.received[2]).toMatchObject({ name: ON_LOAD_INTERNAL_EVENT, router_data: { pathname: '/shop' } });
  });

  it('applies deltas, calls subscribers with the new vars and the changed ones, and stops after unsubscribe', async () => {
    const client = makeClient();
    await client.connect();
    const seen: Array<[Record<string, unknown>, Record<string, unknown>]> = [];
    const unsubscribe = client.subscribe(COUNTER, (vars, changed) => seen.push([vars, changed]));
    const updates: StateUpdate[] = [];
    client.onEvent((update) => updates.push(update));

    client.call(COUNTER, 'increment', { by: 2 });
    const state = await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 2);

    expect(state).toEqual({ count: 2, label: 'clicks' });
    expect(seen).toEqual([[{ count: 2, label: 'clicks' }, { count: 2 }]]);
    expect(updates).toEqual([{ delta: { [COUNTER]: { count_rx_state_: 2 } } }]);
    expect(server.received.at(-1)).toMatchObject({ name: `${COUNTER}.increment`, payload: { by: 2 } });

    unsubscribe();
    client.send(`${COUNTER}.increment`);
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 3);
    expect(seen).toHaveLength(1);
  });

  it('waitFor rejects after its timeout with the last vars', async () => {
    const client = makeClient();
    await client.connect();
    await expect(client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 99, 100)).rejects.toThrow(
      /timed out after 100 ms; last vars: \{"count":0,"label":"clicks"\}/,
    );
  });

  it('waitFor resolves at once when the predicate already holds, and rejects with what the predicate throws', async () => {
    const client = makeClient();
    await client.connect();
    await expect(client.waitFor(COUNTER, () => true, 10)).resolves.toEqual({ count: 0, label: 'clicks' });
    await expect(
      client.waitFor(COUNTER, () => {
        throw new Error('bad predicate');
      }),
    ).rejects.toThrow('bad predicate');
  });

  it('delivers bridge_error payloads to onError listeners', async () => {
    const client = makeClient();
    await client.connect();
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));

    client.call(COUNTER, 'nope', { a: 1 });
    await until(() => errors.length === 1);

    expect(errors[0]).toEqual({
      code: 'unknown_handler',
      message: `No handler named ${COUNTER}.nope.`,
      event: `${COUNTER}.nope`,
    });
  });

  it('sends an event the server refused `server_stopping` (with its payload) again once reconnected, in order, without reporting it', async () => {
    const client = makeClient();
    await client.connect();
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));

    // A restart begins: the server refuses the user's clicks (not run), then closes the connection once drained.
    server.stopping = 'with payload';
    client.call(COUNTER, 'increment', { by: 5 });
    client.call(COUNTER, 'increment', { by: 10 });
    await until(() => client.queued === 2);
    server.stopping = false;
    server.closeTransports();

    // Before: both clicks lost (count 1), each with an error for the app to show.
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 16);
    expect(server.received.filter((event) => event.name === `${COUNTER}.increment`).map((event) => event.payload)).toEqual([{}, { by: 5 }, { by: 10 }, { by: 5 }, { by: 10 }]);
    expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, `${COUNTER}.increment`, `${COUNTER}.increment`]);
    expect(errors).toEqual([]);
  });

  it('after `server_closing`, answers `closing_ack` behind what it sent, queues the next events for the next connection, and keeps the order the user clicked in', async () => {
    const client = makeClient();
    await client.connect();
    expect(server.closingNoticeQueries).toEqual(['1']);
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);
    const errors: BridgeErrorPayload[] = [];
    const problems: ConnectionError[] = [];
    client.onError((error) => errors.push(error));
    client.onConnectionError((error) => problems.push(error));

    // A click goes out, then the server (drained) says it closes the connection.
    client.call(COUNTER, 'increment', { by: 2 });
    server.tellClosing();
    await until(() => server.closingAcks.length === 1);
    // The answer came after the click, on the same connection: the server has everything the client sent on it.
    expect(server.closingAcks).toEqual([{ socketId: server.received[0]!.socketId, eventsBefore: 4 }]);
    // The user clicks on: held for the next connection, not sent on the closing one.
    client.call(COUNTER, 'increment', { by: 10 });
    expect(client.queued).toBe(1);
    // An earlier click comes back refused (as one that reached the server after its drain): it goes before the held one.
    server.refuseStopping(`${COUNTER}.increment`, { by: 100 });
    await until(() => client.queued === 2);
    server.closeTransports();

    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 113);
    expect(server.eventsOfConnection(0).filter((name) => name === `${COUNTER}.increment`)).toHaveLength(2);
    expect(server.received.filter((event) => event.socketId !== server.received[0]!.socketId && event.name === `${COUNTER}.increment`).map((event) => event.payload)).toEqual([{ by: 100 }, { by: 10 }]);
    expect(errors).toEqual([]);
    expect(problems.filter((problem) => problem.kind === 'events_unconfirmed')).toEqual([]);
  });

  it('reports a `server_stopping` refusal without a payload (a server that does not send it back) and does not send it again', async () => {
    const client = makeClient();
    await client.connect();
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));
    server.stopping = 'without payload';
    client.call(COUNTER, 'increment', { by: 5 });
    await until(() => errors.length === 1);
    server.stopping = false;
    server.closeTransports();
    await nextStatus(client, ['ready']);
    expect(errors).toEqual([{ code: 'server_stopping', message: 'The server is shutting down; this event was not run.', event: `${COUNTER}.increment` }]);
    expect(client.queued).toBe(0);
    expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT]);
  });

  it('replaces the token on new_token, persists it, and uses it for the next reconnect', async () => {
    const storage = new Map<string, string>();
    const tokenStorage: TokenStorage = { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => void storage.set(key, value) };
    const first = '11111111-1111-4111-8111-111111111111';
    const second = '22222222-2222-4222-8222-222222222222';
    server.replaceTokens.set(first, second);
    const client = makeClient({ token: first, storage: tokenStorage });
    const changes: string[] = [];
    client.onTokenChange((token) => changes.push(token));

    await client.connect();
    await until(() => client.token === second);
    expect(changes).toEqual([second]);
    expect(storage.get('token')).toBe(second);
    expect(server.handshakes).toEqual([first]);

    server.dropAll();
    await nextStatus(client, ['reconnecting']);
    await nextStatus(client, ['ready']);
    expect(server.handshakes).toEqual([first, second]);
  });

  it('reconnects after the server drops the socket and runs the hydrate sequence again', async () => {
    const client = makeClient();
    await client.connect();
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    const statuses: ConnectionStatus[] = [];
    client.onStatus((status) => statuses.push(status));

    server.dropAll();
    await nextStatus(client, ['ready']);

    expect(statuses).toEqual(['reconnecting', 'connected', 'ready']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(errors[0]).toMatchObject({ kind: 'disconnect', reason: 'io server disconnect' });
    expect(server.handshakes).toEqual([client.token, client.token]);
    expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT]);
    expect(client.state(COUNTER)).toEqual({ count: 1, label: 'clicks' });
    expect(server.connectedCount).toBe(1);
  });

  it('gives up on a reconnection that is not ready within connectTimeoutMs and tries again, instead of waiting for good', async () => {
    const client = makeClient({ connectTimeoutMs: 500 });
    await client.connect();
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    server.stallHandshakes = true;
    server.dropAll();
    // The first reconnection lands on a server that never answers its handshake: the client drops it and tries again.
    await eventually('a second reconnection attempt while the server stalls', () => server.stalled, (stalled) => stalled >= 2);
    expect(errors.some((error) => error.kind === 'timeout')).toBe(true);
    expect(client.status).toBe('reconnecting');
    server.stallHandshakes = false;
    await nextStatus(client, ['ready']);
    expect(client.hydrated).toBe(true);
    expect(server.connectedCount).toBe(1);
  }, 30_000);

  it('subscribes the live lists again after each reconnection: each live_subscribe once, after the hydrate sequence, in first-sent order', async () => {
    const client = makeClient();
    await client.connect();
    client.call(FILTER, 'live_subscribe');
    client.call(COUNTER, 'live_subscribe');
    client.call(FILTER, 'live_subscribe', { again: true });
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);

    for (const connection of [1, 2]) {
      server.dropAll();
      await nextStatus(client, ['reconnecting']);
      await nextStatus(client, ['ready']);
      // An event sent after ready marks the end of what the client sent by itself on this connection.
      client.call(COUNTER, 'increment');
      await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === connection + 1);
      expect(server.eventsOfConnection(connection)).toEqual([
        HYDRATE_EVENT,
        ON_LOAD_INTERNAL_EVENT,
        `${FILTER}.live_subscribe`,
        `${COUNTER}.live_subscribe`,
        `${COUNTER}.increment`,
      ]);
    }
    // With the payload of the latest call for that state.
    expect(server.received.filter((event) => event.name === `${FILTER}.live_subscribe`).at(-1)?.payload).toEqual({ again: true });
  });

  it('does not send a live_subscribe twice on one connection when the app sends it again itself, on ready or queued', async () => {
    const client = makeClient();
    client.onStatus((status) => {
      if (status === 'ready') client.call(COUNTER, 'live_subscribe');
      if (status === 'reconnecting') client.call(FILTER, 'live_subscribe');
    });
    await client.connect();
    client.call(FILTER, 'live_subscribe');
    await until(() => server.eventsOfConnection(0).length === 4);
    expect(server.eventsOfConnection(0)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, `${COUNTER}.live_subscribe`, `${FILTER}.live_subscribe`]);
    server.dropAll();
    await nextStatus(client, ['reconnecting']);
    await nextStatus(client, ['ready']);
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);
    // The queued one goes out after the hydrate sequence, the ready listener's next; the client adds none.
    expect(server.eventsOfConnection(1)).toEqual([
      HYDRATE_EVENT,
      ON_LOAD_INTERNAL_EVENT,
      `${FILTER}.live_subscribe`,
      `${COUNTER}.live_subscribe`,
      `${COUNTER}.increment`,
    ]);
  });

  it('queues events sent while disconnected and sends them after the hydrate sequence of the reconnect', async () => {
    const client = makeClient();
    await client.connect();
    client.onStatus((status) => {
      if (status !== 'reconnecting') return;
      client.call(COUNTER, 'increment', { by: 5 });
      client.call(COUNTER, 'increment', { by: 1 });
    });

    server.dropAll();
    await nextStatus(client, ['reconnecting']);
    expect(client.queued).toBe(2);
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 6);

    expect(client.queued).toBe(0);
    expect(server.eventsOfConnection(1)).toEqual([
      HYDRATE_EVENT,
      ON_LOAD_INTERNAL_EVENT,
      `${COUNTER}.increment`,
      `${COUNTER}.increment`,
    ]);
  });

  it('holds at most maxQueuedEvents while offline: the next ones are refused and reported (queue_full), the held ones sent in order', async () => {
    const client = makeClient({ maxQueuedEvents: 3 });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    // Before, every event was queued: 100,000 clicks offline held 100,000 events and sent them all on reconnect.
    for (let by = 1; by <= 6; by++) client.call(COUNTER, 'increment', { by });
    expect(client.queued).toBe(3);
    expect(client.droppedEvents).toBe(3);
    // Reported once while the queue stays full, naming the first refused event and the limit.
    expect(errors.map((error) => error.kind)).toEqual(['queue_full']);
    expect(errors[0]!.message).toContain('maxQueuedEvents (3)');
    expect(errors[0]!.data).toEqual({ event: `${COUNTER}.increment`, maxQueuedEvents: 3, maxQueuedChars: 16 * 1024 * 1024 });
    await client.connect();
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 6);
    expect(server.received.map((event) => event.payload['by'])).toEqual([undefined, undefined, 1, 2, 3]);
    // Once the queue had room again, a new overflow is reported again.
    client.disconnect();
    for (let i = 0; i < 4; i++) client.call(COUNTER, 'increment');
    expect(errors.map((error) => error.kind)).toEqual(['queue_full', 'queue_full']);
    expect(client.droppedEvents).toBe(4);
    expect(() => makeClient({ maxQueuedEvents: 0 })).toThrow(/maxQueuedEvents/);
  });

  it('holds at most maxQueuedChars of events while offline (16 Mi by default): a tab queueing 1 MiB events holds 15, not 1,000', async () => {
    const errors: ConnectionError[] = [];
    const big = makeClient();
    big.onConnectionError((error) => errors.push(error));
    // Before, the queue was bounded by count only: 100 events of 1 MiB were all held (1,000 of them: 1 GiB).
    const page = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 100; i++) big.call(COUNTER, 'saveDraft', { page });
    expect(big.queued).toBe(15);
    expect(big.droppedEvents).toBe(85);
    expect(errors.map((error) => error.kind)).toEqual(['queue_full']);
    expect(errors[0]!.message).toContain(`maxQueuedChars (${16 * 1024 * 1024})`);
    expect(errors[0]!.data).toEqual({ event: `${COUNTER}.saveDraft`, maxQueuedEvents: 1000, maxQueuedChars: 16 * 1024 * 1024 });

    const client = makeClient({ maxQueuedChars: 1000 });
    const pad = 'x'.repeat(400);
    for (let by = 1; by <= 3; by++) client.call(COUNTER, 'increment', { by, pad });
    expect(client.queued).toBe(2);
    expect(client.droppedEvents).toBe(1);
    await client.connect();
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 3);
    // Sent events free their room: the queue takes as much again.
    client.disconnect();
    for (let by = 1; by <= 2; by++) client.call(COUNTER, 'increment', { by, pad });
    expect(client.queued).toBe(2);
    // One event larger than the whole allowance is never queued, even in an empty queue.
    const small = makeClient({ maxQueuedChars: 100 });
    small.call(COUNTER, 'increment', { pad });
    expect([small.queued, small.droppedEvents]).toEqual([0, 1]);
    expect(() => makeClient({ maxQueuedChars: 0 })).toThrow(/maxQueuedChars/);
  });

  it('refuses a payload that cannot be sent (a BigInt, a cycle) when it is sent, online or queued, and sends the rest of the queue', async () => {
    const client = makeClient();
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    // Before, queued offline it was accepted, then threw out of the socket's connect handler on the next connection
    // (in Node an uncaught exception), and the events queued after it were not sent.
    expect(() => client.call(COUNTER, 'increment', { by: 10n })).toThrow(TypeError);
    expect(() => client.call(COUNTER, 'increment', cyclic)).toThrow(TypeError);
    client.call(COUNTER, 'increment', { by: 4 });
    expect(client.queued).toBe(1);
    await client.connect();
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 4);
    expect(() => client.call(COUNTER, 'increment', { by: 10n })).toThrow(TypeError);
    expect(client.connected).toBe(true);
    // A live_subscribe that could not be sent is not sent again on the next connections either: before, it threw
    // out of each one's ready handler, before connect() resolved (it then timed out, over and over).
    expect(() => client.call(COUNTER, 'live_subscribe', { since: 1n })).toThrow();
    client.disconnect();
    client.call(COUNTER, 'live_subscribe', {});
    expect(() => client.call(FILTER, 'live_subscribe', { since: 1n })).toThrow(TypeError);
    await client.connect();
    await until(() => server.received.filter((event) => event.name.endsWith('.live_subscribe')).length === 1);
    expect(server.received.filter((event) => event.name.endsWith('.live_subscribe')).map((event) => event.name)).toEqual([`${COUNTER}.live_subscribe`]);
  });

  it('queues events sent before the first connect()', async () => {
    const client = makeClient();
    client.call(COUNTER, 'increment', { by: 4 });
    expect(client.queued).toBe(1);
    await client.connect();
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 4);
    expect(server.received.map((event) => event.name)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, `${COUNTER}.increment`]);
  });

  it("runs the page's on-load handlers once for a navigate() made while offline, not once more from the queue", async () => {
    const client = makeClient();
    // A router that moves before the socket is up (a slow server), and again while a reconnection is pending.
    client.navigate('/posts/1');
    await client.connect();
    client.disconnect();
    client.navigate('/posts/2');
    client.call(COUNTER, 'increment');
    await client.connect();
    await until(() => server.received.some((event) => event.name === `${COUNTER}.increment`));
    expect(server.eventsOfConnection(0)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT]);
    expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, `${COUNTER}.increment`]);
    const onLoads = server.received.filter((event) => event.name === ON_LOAD_INTERNAL_EVENT);
    expect(onLoads.map((event) => (event.router_data as { asPath?: string }).asPath)).toEqual(['/posts/1', '/posts/2']);
  });

  it("leaves the server with the browser's current storage values after a navigate() made offline, not the older ones it read then", async () => {
    const THEME = `${COUNTER}.theme_rx_state_`;
    const entries = new Map<string, string>([[THEME, 'dark']]);
    const localStorage = { getItem: (key: string) => entries.get(key) ?? null, setItem: (key: string, value: string) => void entries.set(key, value), removeItem: (key: string) => void entries.delete(key), clear: () => entries.clear() };
    // A page: its window and its localStorage.
    const scope = globalThis as { localStorage?: unknown; window?: unknown };
    scope.localStorage = localStorage;
    scope.window = globalThis;
    try {
      const client = makeClient({ clientStorage: { local_storage: { [THEME]: {} } } });
      await client.connect();
      client.disconnect();
      // Offline: the router moves (the values read now go in the queue), then the page changes the theme.
      client.navigate('/b');
      entries.set(THEME, 'light');
      client.call(COUNTER, 'increment');
      await client.connect();
      await until(() => server.received.some((event) => event.name === `${COUNTER}.increment`));
      // Before, the queued update_vars_internal went out after the fresh one: the server ended with 'dark'.
      const updates = server.received.filter((event) => event.socketId === server.received.at(-1)!.socketId && event.name === UPDATE_VARS_INTERNAL_EVENT);
      expect(updates.map((event) => event.payload)).toEqual([{ vars: { [THEME]: 'light' } }]);
      expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, UPDATE_VARS_INTERNAL_EVENT, ON_LOAD_INTERNAL_EVENT, `${COUNTER}.increment`]);
    } finally {
      delete scope.localStorage;
      delete scope.window;
    }
  });

  it('still sends a queued update_vars_internal for names the clientStorage option does not declare', async () => {
    const client = makeClient({ clientStorage: { local_storage: { [`${COUNTER}.theme_rx_state_`]: {} } } });
    await client.connect();
    client.disconnect();
    client.send(UPDATE_VARS_INTERNAL_EVENT, { vars: { [`${COUNTER}.theme_rx_state_`]: 'old', [`${FILTER}.other_rx_state_`]: 'x' } });
    await client.connect();
    await until(() => server.received.some((event) => event.name === UPDATE_VARS_INTERNAL_EVENT));
    const updates = server.received.filter((event) => event.name === UPDATE_VARS_INTERNAL_EVENT);
    expect(updates.map((event) => event.payload)).toEqual([{ vars: { [`${FILTER}.other_rx_state_`]: 'x' } }]);
  });

  it('sends an event queued offline with the page it was sent on, before the on-load of a page navigated to since', async () => {
    const client = makeClient({ page: '/posts/1' });
    await client.connect();
    client.disconnect();
    // Offline: a click on post 1 (a handler reading its route param), then the router moves to post 2, another click.
    client.call(COUNTER, 'increment');
    client.navigate('/posts/2');
    client.call(COUNTER, 'increment', { by: 2 });
    await client.connect();
    await until(() => server.received.filter((event) => event.name === `${COUNTER}.increment`).length === 2);
    const sent = server.received.filter((event) => event.socketId === server.received.at(-1)!.socketId);
    // Before, both went out after the sequence, with the page of the moment they were sent: the click on post 1 ran
    // for post 2.
    expect(sent.map((event) => [event.name, (event.router_data as { asPath: string }).asPath])).toEqual([
      [HYDRATE_EVENT, '/posts/2'],
      [`${COUNTER}.increment`, '/posts/1'],
      [ON_LOAD_INTERNAL_EVENT, '/posts/2'],
      [`${COUNTER}.increment`, '/posts/2'],
    ]);
  });

  it('sends, once, an event clicked as a laptop wakes (the socket still looks connected, its heartbeat long overdue)', async () => {
    const client = makeClient();
    await client.connect();
    // What a sleep (or a throttled background tab) leaves: the engine's heartbeat deadline is in the past. Socket.IO
    // then buffers the next emit on that socket instead of writing it, and closes the socket ("ping timeout").
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    const engine = (client as unknown as { socket: { io: { engine: { _pingTimeoutTime: number } } } }).socket.io.engine;
    engine._pingTimeoutTime = Date.now() - 1000;
    expect(client.connected).toBe(true);
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1, 10_000);
    expect(server.handshakes).toHaveLength(2);
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 2, 10_000);
    expect(server.received.filter((event) => event.name === `${COUNTER}.increment`)).toHaveLength(2);
    // The click the dead socket held unsent was sent again: not reported as one that may not have run.
    expect(errors.map((error) => error.kind)).not.toContain('events_unconfirmed');
  }, 30_000);

  it('does not report events it sends again as unconfirmed when more than 100 were held unsent by a socket whose heartbeat was overdue', async () => {
    const client = makeClient();
    await client.connect();
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    const engine = (client as unknown as { socket: { io: { engine: { _pingTimeoutTime: number } } } }).socket.io.engine;
    engine._pingTimeoutTime = Date.now() - 1000;
    // In the tick before Socket.IO closes the socket: every one is held unsent, then queued again and sent once.
    for (let i = 0; i < 150; i++) client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 150, 20_000);
    expect(server.received.filter((event) => event.name === `${COUNTER}.increment`)).toHaveLength(150);
    // Before: events_unconfirmed with { events: [], count: 50 }, the 50 held past the first 100 listed were counted.
    expect(errors.map((error) => error.kind)).not.toContain('events_unconfirmed');
  }, 30_000);

  it('does not reconnect after a deliberate disconnect()', async () => {
    const client = makeClient();
    await client.connect();
    client.disconnect();
    expect(client.status).toBe('disconnected');
    expect(client.connected).toBe(false);
    await sleep(300);
    expect(server.handshakes).toHaveLength(1);
    expect(server.connectedCount).toBe(0);
    expect(client.status).toBe('disconnected');
  });

  it('can connect again after disconnect(), keeping the token', async () => {
    const client = makeClient();
    await client.connect();
    const token = client.token;
    client.disconnect();
    await client.connect();
    expect(server.handshakes).toEqual([token, token]);
    expect(server.eventsOfConnection(1)).toEqual([HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT]);
  });

  it('rejects connect() with the server reason when the token is malformed, without retrying', async () => {
    const client = makeClient({ token: 'not-a-uuid' });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));

    const failure = await client.connect().then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(ConnectionError);
    expect(failure).toMatchObject({ kind: 'connect_error', message: 'Malformed client token.' });
    expect(errors).toEqual([failure]);
    expect(client.status).toBe('disconnected');
    await sleep(200);
    expect(server.handshakes).toEqual([]);
  });

  it('retries the first connection when retryInitialConnect is set, and gives up after maxAttempts', async () => {
    const client = makeClient({
      token: 'not-a-uuid',
      reconnect: { baseDelayMs: 20, maxDelayMs: 50, maxAttempts: 3, retryInitialConnect: true },
    });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));

    await expect(client.connect()).rejects.toMatchObject({ kind: 'gave_up' });
    expect(errors.map((error) => error.kind)).toEqual(['connect_error', 'connect_error', 'connect_error', 'gave_up']);
    expect(client.status).toBe('disconnected');
  });

  it('rejects a pending connect() when disconnect() is called', async () => {
    const client = makeClient();
    const pending = client.connect();
    client.disconnect();
    await expect(pending).rejects.toMatchObject({ kind: 'closed' });
  });

  it('routes _redirect to onRedirect, other frontend events to onClientEvent, never evaluates code, and sends backend events back', async () => {
    const redirects: Array<[string, RedirectOptions]> = [];
    const optionEvents: ClientEvent[] = [];
    const client = makeClient({
      onRedirect: (path, options) => redirects.push([path, options]),
      onClientEvent: (event) => optionEvents.push(event),
    });
    const allEvents: string[] = [];
    client.onClientEvent((event) => allEvents.push(event.name));
    await client.connect();

    client.call(COUNTER, 'checkout');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 10);

    expect(client.state(COUNTER)).toEqual({ count: 10, label: 'done' });
    expect(redirects).toEqual([['/done', { external: false, popup: false, replace: true }]]);
    expect(optionEvents.map((event) => event.name)).toEqual(['_call_function']);
    expect(allEvents).toEqual(['_redirect', '_call_function']);
    expect((globalThis as { evaluated?: unknown }).evaluated).toBeUndefined();
    expect(server.received.at(-1)).toMatchObject({ name: `${COUNTER}.increment`, payload: { by: 10 }, router_data: { pathname: '/' } });
  });

  it('redeems a session cookie handoff with a POST carrying the secret and the tab token, and reports a refusal', async () => {
    const errors: ConnectionError[] = [];
    const client = makeClient();
    client.onConnectionError((error) => errors.push(error));
    await client.connect();
    client.call(COUNTER, 'login');
    await until(() => server.httpRequests.length === 1);
    expect(server.httpRequests[0]).toMatchObject({
      method: 'POST',
      url: '/_bridge/session-cookie/abc',
      headers: { 'x-reflex-handoff': 's3cret', 'reflex-client-token': client.token },
    });
    expect(errors).toEqual([]);

    server.handoffStatus = 403;
    client.call(COUNTER, 'login');
    await until(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ kind: 'handoff_failed', message: expect.stringMatching(/Session cookie handoff failed: .*403/) });
  });

  it('still redeems the handoff of older servers (_bridge_session_cookie)', async () => {
    const client = makeClient();
    await client.connect();
    client.call(COUNTER, 'legacyLogin');
    await until(() => server.httpRequests.length === 1);
    expect(server.httpRequests[0]).toMatchObject({ method: 'POST', url: '/_bridge/session-cookie/abc', headers: { 'x-reflex-handoff': 's3cret', 'reflex-client-token': client.token } });
  });

  it('reports a refused event to onError (retryAfterMs included) once, and keeps its toast from onClientEvent without evaluating it', async () => {
    const optionEvents: ClientEvent[] = [];
    const client = makeClient({ onClientEvent: (event) => optionEvents.push(event) });
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));
    const raw: string[] = [];
    client.onClientEvent((event) => raw.push(event.name));
    await client.connect();
    client.call(COUNTER, 'refused');
    await until(() => errors.length === 1 && raw.length === 1);
    client.call(COUNTER, 'increment');
    await client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1);
    expect(errors).toEqual([{ code: 'rate_limited', message: 'Too many events.', event: `${COUNTER}.refused`, retryAfterMs: 1500 }]);
    expect(optionEvents).toEqual([]);
    expect((globalThis as { evaluated?: unknown }).evaluated).toBeUndefined();
  });

  it('passes storage and DOM events to onClientEvent outside a browser (nothing to apply, no new hydrate)', async () => {
    const optionEvents: ClientEvent[] = [];
    const client = makeClient({ onClientEvent: (event) => optionEvents.push(event) });
    await client.connect();
    const hydrates = server.received.filter((event) => event.name === HYDRATE_EVENT).length;
    client.call(COUNTER, 'storage');
    await until(() => optionEvents.length === 2);
    expect(optionEvents.map((event) => [event.name, event.payload])).toEqual([
      ['_remove_local_storage', { key: 'k' }],
      ['_set_focus', { ref: 'ref_name' }],
    ]);
    expect(server.received.filter((event) => event.name === HYDRATE_EVENT)).toHaveLength(hydrates);
  });

  it("keeps the tab's token in sessionStorage when the server clears it (_clear_session_storage), so a reload keeps the state", async () => {
    const entries = new Map<string, string>([['draft', 'x']]);
    const sessionStorage = {
      getItem: (key: string) => entries.get(key) ?? null,
      setItem: (key: string, value: string) => void entries.set(key, value),
      removeItem: (key: string) => void entries.delete(key),
      clear: () => entries.clear(),
    };
    // A page: its window and its tab's sessionStorage.
    const scope = globalThis as { sessionStorage?: unknown; window?: unknown };
    scope.sessionStorage = sessionStorage;
    scope.window = globalThis;
    try {
      const client = makeClient();
      expect(entries.get('token')).toBe(client.token);
      await client.connect();
      const hydrates = server.received.filter((event) => event.name === HYDRATE_EVENT).length;
      client.call(COUNTER, 'logout');
      // The storage events ran: the hydrate sequence is sent again.
      await until(() => server.received.filter((event) => event.name === HYDRATE_EVENT).length > hydrates);
      expect(entries.has('draft')).toBe(false);
      expect(entries.get('token')).toBe(client.token);
      // A reload: a new client in the same tab takes the same token, so the server gives it the same state.
      client.disconnect();
      expect(makeClient().token).toBe(client.token);
    } finally {
      delete scope.sessionStorage;
      delete scope.window;
    }
  });

  it('runs the hydrate sequence again once for a page whose on-load handler clears storage, not in an endless loop', async () => {
    const entries = new Map<string, string>([['theme', 'dark']]);
    const localStorage = { getItem: (key: string) => entries.get(key) ?? null, setItem: (key: string, value: string) => void entries.set(key, value), removeItem: (key: string) => void entries.delete(key), clear: () => entries.clear() };
    // A page: its window and its localStorage.
    const scope = globalThis as { localStorage?: unknown; window?: unknown };
    scope.localStorage = localStorage;
    scope.window = globalThis;
    try {
      // A /logout page: its on-load handler returns rx.clear_local_storage(). Each storage event runs the hydrate
      // sequence again, which runs the on-load handler again: before, the tab and the server looped for good.
      server.onLoadEvents = [{ name: '_clear_local_storage', payload: {} }];
      const client = makeClient();
      await client.connect();
      const hydrates = () => server.received.filter((event) => event.name === HYDRATE_EVENT).length;
      await until(() => hydrates() >= 2);
      // Round trips after which a loop would have sent more.
      for (let i = 0; i < 5; i++) await client.ping();
      expect(hydrates()).toBe(2);
      expect(entries.size).toBe(0);
      // An app event that clears storage still gets its hydrate sequence (as in Reflex).
      server.onLoadEvents = [];
      client.call(COUNTER, 'storage');
      await until(() => hydrates() === 3);
    } finally {
      delete scope.localStorage;
      delete scope.window;
    }
  });

  it('reports a custom sessionCookieHandoff that throws as handoff_failed, with the error as its cause', async () => {
    const failure = new Error('no cookie jar');
    const client = makeClient({
      sessionCookieHandoff: () => {
        throw failure;
      },
    });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    await client.connect();
    client.call(COUNTER, 'login');
    await until(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ kind: 'handoff_failed', cause: failure });
    // The socket was not disturbed.
    client.call(COUNTER, 'increment');
    await client.waitFor(COUNTER, (vars) => vars['count'] === 1);
    expect(client.status).toBe('ready');
  });

  it('hands a custom sessionCookieHandoff the URL, the secret, the token and the headers to send', async () => {
    const calls: Array<[string, unknown]> = [];
    const client = makeClient({ sessionCookieHandoff: async (url, handoff) => void calls.push([url, handoff]) });
    await client.connect();
    client.call(COUNTER, 'login');
    await until(() => calls.length === 1);
    expect(calls[0]).toEqual([
      `${server.url}/_bridge/session-cookie/abc`,
      { secret: 's3cret', token: client.token, headers: { 'X-Reflex-Handoff': 's3cret', 'Reflex-Client-Token': client.token } },
    ]);
    expect(server.httpRequests).toEqual([]);
  });

  it('answers ping() with a round-trip time and reports client errors', async () => {
    const client = makeClient();
    await client.connect();
    const ms = await client.ping();
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(client.reportClientError('boom', 'state_update_processing_error')).toBe(true);
    await until(() => server.clientErrors.length === 1);
    expect(server.clientErrors).toEqual([{ message: 'boom', error_type: 'state_update_processing_error' }]);
    client.disconnect();
    await expect(client.ping()).rejects.toMatchObject({ kind: 'not_connected' });
    expect(client.reportClientError('late', 'x')).toBe(false);
  });

  it('survives malformed and hostile server frames: ignores what it cannot use, keeps its state and its connection', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    // Client storage declared, so its writer reads every delta too.
    const client = makeClient({ clientStorage: { local_storage: { [`${COUNTER}.label_rx_state_`]: {} } } });
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));
    const connectionErrors: ConnectionError[] = [];
    client.onConnectionError((error) => connectionErrors.push(error));
    try {
      await client.connect();
      const token = client.token;
      client.call(COUNTER, 'hostile');
      const vars = await client.waitFor(COUNTER, (s) => s['label'] === 'survived', 10_000);
      expect(vars['big']).toHaveLength(4_000_000);
      expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(client.token).toBe(token);
      expect(client.status).toBe('ready');
      expect(errors.map((error) => error.code)).toEqual(['unknown', 'x', 'x']);
      expect(errors[2]!.details).toEqual(['{}', 'null']);
      // The two handoffs whose URL does not parse are reported, not thrown.
      expect(connectionErrors.map((error) => error.kind)).toEqual(['handoff_failed', 'handoff_failed']);
      expect(connectionErrors[0]!.message).toContain('invalid URL');
      // Still usable afterwards.
      client.call(COUNTER, 'increment', { by: 2 });
      await client.waitFor(COUNTER, (s) => s['count'] === 2);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('takes a timeout past the timers\' 24.8-day maximum (Infinity included) as no timeout, not as 1 ms', async () => {
    // setTimeout runs a delay over 2^31 - 1 ms after 1 ms: connect() rejected with `timeout` before the handshake.
    const client = makeClient({ connectTimeoutMs: Number.POSITIVE_INFINITY });
    await client.connect();
    expect(client.status).toBe('ready');
    const waited = client.waitFor<{ count: number }>(COUNTER, (vars) => vars.count === 1, 2 ** 31);
    const pinged = client.ping(Number.POSITIVE_INFINITY);
    client.call(COUNTER, 'increment');
    await expect(waited).resolves.toMatchObject({ count: 1 });
    await expect(pinged).resolves.toEqual(expect.any(Number));
  });

  it('does not reconnect when reconnect is false', async () => {
    const client = makeClient({ reconnect: false });
    await client.connect();
    server.dropAll();
    await nextStatus(client, ['disconnected']);
    await sleep(200);
    expect(server.handshakes).toHaveLength(1);
  });
});

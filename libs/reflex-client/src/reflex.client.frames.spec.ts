import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { eventually } from '../../../test/support/eventually.js';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import type { BridgeErrorPayload } from './bridge-error.types.js';
import type { ConnectionError } from './connection.error.js';
import type { OutboundEvent } from './outbound-event.types.js';
import { HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, ROOT_STATE_NAME } from './protocol.constants.js';
import { ReflexClient } from './reflex.client.js';
import type { ReflexClientOptions } from './reflex-client.options.js';

const COUNTER = `${ROOT_STATE_NAME}.counter_state`;

/**
 * A server that hydrates, then writes whatever text frames the test gives it, raw: a real Socket.IO server could
 * not encode a 100,000-deep object itself (its encoder recurses), a hostile one writes it anyway.
 */
class RawFrameServer {
  readonly received: string[] = [];
  /** `ping` messages received and not answered yet: the test answers them with {@link answerPing}. */
  heldPings = 0;
  private http!: HttpServer;
  private io!: Server;
  socket: ServerSocket | undefined;
  url = '';

  async start(): Promise<void> {
    this.http = createServer();
    this.io = new Server(this.http, { path: '/_event', transports: ['websocket'] });
    this.io.of('/_event').on('connection', (socket) => {
      this.socket = socket;
      socket.on('ping', () => (this.heldPings += 1));
      socket.on('event', (event: OutboundEvent) => {
        this.received.push(event.name);
        if (event.name === HYDRATE_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: false }, [COUNTER]: { count_rx_state_: 0 } } });
        if (event.name === ON_LOAD_INTERNAL_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: true } } });
      });
    });
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** Sends `message` with its argument given as JSON text, as the Socket.IO wire format has it. */
  sendRaw(message: string, json: string): void {
    this.socket!.conn.write(`2/_event,["${message}",${json}]`);
  }

  /** Answers the oldest ping not answered yet, as a server does (in order, one answer per ping). */
  answerPing(): void {
    this.heldPings -= 1;
    this.socket!.emit('ping', 'pong');
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      void this.io.close(() => resolve());
    });
  }
}

/** `{"a":{"a":…1…}}`, `depth` objects deep. */
function nested(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

describe('ReflexClient against frames over its limits', () => {
  let server: RawFrameServer;
  let client: ReflexClient | undefined;

  beforeEach(async () => {
    server = new RawFrameServer();
    await server.start();
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await server.stop();
  });

  async function connected(options: Partial<ReflexClientOptions> = {}): Promise<{ client: ReflexClient; errors: ConnectionError[] }> {
    client = new ReflexClient({ url: server.url, storage: null, reconnect: false, ...options });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    await client.connect();
    return { client, errors };
  }

  /** A frame after the hostile ones: once applied, everything before it was handled. */
  async function settle(reflex: ReflexClient, count: number): Promise<void> {
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { count_rx_state_: count } } }));
    await reflex.waitFor(COUNTER, (vars) => vars['count'] === count, 10_000);
  }

  it('drops a message longer than frameLimits.maxChars unparsed, reports it, and stays connected', async () => {
    const { client: reflex, errors } = await connected({ frameLimits: { maxChars: 10_000 } });
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { big_rx_state_: 'x'.repeat(20_000) } } }));
    await settle(reflex, 1);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'big')).toBe(false);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
    expect(errors[0]!.message).toContain('maxChars');
    expect(reflex.status).toBe('ready');
  });

  it('reads no WebSocket frame of more than 3 bytes per maxChars character in Node: it closes the connection instead of buffering it', async () => {
    const { client: reflex, errors } = await connected({ frameLimits: { maxChars: 10_000 } });
    // 40 times the limit. Before, `ws` read frames up to its own 100 MiB default whole into memory, and only the
    // parser's maxChars check dropped them: a hostile server had each Node client buffer 100 MiB per frame.
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { big_rx_state_: 'x'.repeat(400_000) } } }));
    await eventually('the connection to end', () => reflex.status, (status) => status === 'disconnected');
    expect(errors.map((error) => error.kind)).toEqual(['disconnect']);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'big')).toBe(false);
  });

  it('still drops, connection kept, a message over maxChars whose UTF-8 fits 3 bytes per character', async () => {
    const { client: reflex, errors } = await connected({ frameLimits: { maxChars: 10_000 } });
    // 9,000 characters of 3 UTF-8 bytes each: 27,000 bytes, under the transport bound; 9,000 characters + the rest is
    // under maxChars too, and it is applied.
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { wide_rx_state_: '\u20ac'.repeat(9_000) } } }));
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { big_rx_state_: 'x'.repeat(25_000) } } }));
    await settle(reflex, 11);
    expect(reflex.state(COUNTER)!['wide']).toHaveLength(9_000);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'big')).toBe(false);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
    expect(reflex.status).toBe('ready');
  });

  it('drops a 100,000-deep delta before any listener sees it, and reports it', async () => {
    const { client: reflex, errors } = await connected();
    const seen: unknown[] = [];
    reflex.onEvent((update) => seen.push(update));
    // What an app does with its state: render it, log it. A 100,000-deep value overflows the stack there.
    reflex.subscribe(COUNTER, (vars) => JSON.stringify(vars));
    server.sendRaw('event', `{"delta":{"${COUNTER}":{"deep_rx_state_":${nested(100_000)}}}}`);
    await settle(reflex, 2);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'deep')).toBe(false);
    expect(seen).toHaveLength(1);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
    expect(errors[0]!.message).toContain('maxDepth');
  });

  it('accepts nesting up to frameLimits.maxDepth', async () => {
    const { client: reflex, errors } = await connected({ frameLimits: { maxDepth: 10 } });
    // The update, the delta and the state are 3 levels: a value of 7 nested objects reaches 10, one of 8 does not fit.
    server.sendRaw('event', `{"delta":{"${COUNTER}":{"deep_rx_state_":${nested(7)}}}}`);
    server.sendRaw('event', `{"delta":{"${COUNTER}":{"deeper_rx_state_":${nested(8)}}}}`);
    await settle(reflex, 3);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'deep')).toBe(true);
    expect(Object.hasOwn(reflex.state(COUNTER)!, 'deeper')).toBe(false);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
  });

  it('reports a deep bridge_error instead of throwing out of the socket handler', async () => {
    const { client: reflex, errors } = await connected();
    const refusals: BridgeErrorPayload[] = [];
    reflex.onError((error) => refusals.push(error));
    server.sendRaw('bridge_error', `{"code":"x","message":"m","details":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`);
    server.sendRaw('bridge_error', '{"code":"y","message":"m"}');
    await settle(reflex, 4);
    expect(refusals.map((error) => error.code)).toEqual(['y']);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
  });

  it('keeps a bridge_error whose details hold objects without a text form, and stays connected', async () => {
    const { client: reflex, errors } = await connected();
    const refusals: BridgeErrorPayload[] = [];
    reflex.onError((error) => refusals.push(error));
    // `String({"toString": 1})` throws: the message handler must not throw with it (an uncaught error, in Node a crash).
    server.sendRaw('bridge_error', '{"code":"x","message":"m","details":["plain",{"toString":1},{"a":1},null]}');
    await settle(reflex, 7);
    expect(refusals).toEqual([{ code: 'x', message: 'm', details: ['plain', '{"toString":1}', '{"a":1}', 'null'] }]);
    expect(errors).toEqual([]);
    expect(reflex.status).toBe('ready');
  });

  it('runs the hydrate sequence again once per update, however many storage events it holds', async () => {
    const globals = globalThis as Record<string, unknown>;
    const removed: string[] = [];
    // A page: its window and its localStorage.
    globals['window'] = globalThis;
    globals['localStorage'] = { clear: () => removed.push('*'), removeItem: (key: string) => removed.push(key) };
    try {
      const { client: reflex } = await connected();
      const hydrates = (): number => server.received.filter((name) => name === HYDRATE_EVENT).length;
      expect(hydrates()).toBe(1);
      // A logout that clears a few keys; each hydrate makes the server send the whole state again.
      const events = ['a', 'b', 'c', 'd', 'e'].map((key) => ({ name: '_remove_local_storage', payload: { key } }));
      server.sendRaw('event', JSON.stringify({ events }));
      await settle(reflex, 8);
      reflex.call(COUNTER, 'marker');
      await eventually('the marker event', () => server.received, (names) => names.includes(`${COUNTER}.marker`));
      expect(removed).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(hydrates()).toBe(2);
      expect(server.received.filter((name) => name === ON_LOAD_INTERNAL_EVENT)).toHaveLength(2);
    } finally {
      delete globals['localStorage'];
      delete globals['window'];
    }
  });

  it("does not take a late answer to a ping that timed out for the answer to the next ping", async () => {
    const { client: reflex } = await connected();
    // A server that is slow for a moment (a blocked event loop, a socket it does not read): the first ping times out.
    const first = reflex.ping(50);
    await eventually('the first ping to reach the server', () => server.heldPings, (held) => held === 1);
    await expect(first).rejects.toMatchObject({ kind: 'timeout' });
    let second: number | Error | undefined;
    reflex.ping(20_000).then(
      (ms) => (second = ms),
      (error: Error) => (second = error),
    );
    await eventually('the second ping to reach the server', () => server.heldPings, (held) => held === 2);
    // The answer to the first ping arrives late, then an update: once that is applied, the answer was handled too.
    server.answerPing();
    await settle(reflex, 9);
    // Before, the late answer resolved the second ping with a round trip the server never made.
    expect(second).toBeUndefined();
    server.answerPing();
    await eventually('the second answer', () => second, (value) => value !== undefined);
    expect(typeof second).toBe('number');
  });

  it("hands the app's onRedirect no redirect to a URL that would run code (javascript:, data:, vbscript:)", async () => {
    const redirected: string[] = [];
    const seen: string[] = [];
    const { client: reflex } = await connected({ onRedirect: (path) => redirected.push(path) });
    reflex.onClientEvent((event) => seen.push(String(event.payload['path'])));
    // What an app's own onRedirect typically does with the path (`location.href = path`) would run these.
    const hostile = ['javascript:alert(document.cookie)', ' JavaScript:alert(1)', '\tjava\nscript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'VBScript:msgbox(1)'];
    const fine = ['/cart', 'https://elsewhere.example/x', 'mailto:help@shop.example'];
    const events = [...hostile, ...fine].map((path) => ({ name: '_redirect', payload: { path, external: false, popup: false, replace: false } }));
    server.sendRaw('event', JSON.stringify({ events }));
    await settle(reflex, 10);
    expect(redirected).toEqual(fine);
    // onClientEvent listeners still see every frontend event, as documented.
    expect(seen).toEqual([...hostile, ...fine]);
  });

  it('sends no server events back from an update whose events list is longer than frameLimits.maxEvents', async () => {
    const { client: reflex, errors } = await connected();
    const echo = Array.from({ length: 10_000 }, () => ({ name: `${COUNTER}.increment`, payload: {} }));
    server.sendRaw('event', JSON.stringify({ delta: { [COUNTER]: { count_rx_state_: 9 } }, events: echo }));
    server.sendRaw('event', JSON.stringify({ events: echo.slice(0, 100) }));
    await settle(reflex, 5);
    // Events reach the server in the order they were sent: once the marker is there, every echo before it is too.
    reflex.call(COUNTER, 'marker');
    await eventually('the marker event', () => server.received, (names) => names.includes(`${COUNTER}.marker`));
    // Only the second update's 100 came back: the first was dropped whole.
    expect(server.received.filter((name) => name === `${COUNTER}.increment`)).toHaveLength(100);
    expect(errors.map((error) => error.kind)).toEqual(['frame_too_large']);
    expect(errors[0]!.message).toContain('maxEvents');
  });

  it("does not keep a server's echoed live_subscribe events to send again on every reconnection", async () => {
    const { client: reflex } = await connected({ reconnect: { baseDelayMs: 1, maxDelayMs: 1 } });
    for (let frame = 0; frame < 10; frame += 1) {
      const events = Array.from({ length: 100 }, (_, i) => ({ name: `${ROOT_STATE_NAME}.s${frame * 100 + i}.live_subscribe`, payload: {} }));
      server.sendRaw('event', JSON.stringify({ events }));
    }
    await settle(reflex, 6);
    const echoed = (): number => server.received.filter((name) => name.endsWith('.live_subscribe')).length;
    reflex.call(COUNTER, 'marker');
    await eventually('the echoes and the marker', () => server.received, (names) => names.includes(`${COUNTER}.marker`));
    expect(echoed()).toBe(1000);
    // The app's own subscription is the only one a new connection sends again.
    reflex.call(COUNTER, 'live_subscribe');
    await eventually('the app subscription', () => server.received, (names) => names.includes(`${COUNTER}.live_subscribe`));
    server.socket!.disconnect(true);
    await eventually('a second hydration', () => server.received.filter((name) => name === ON_LOAD_INTERNAL_EVENT).length, (n) => n === 2);
    await eventually('the status ready', () => reflex.status, (status) => status === 'ready');
    reflex.call(COUNTER, 'marker');
    await eventually('the second marker', () => server.received.filter((name) => name === `${COUNTER}.marker`).length, (n) => n === 2);
    expect(echoed()).toBe(1000 + 2);
  });

  it('keeps its token when new_token carries no token the server could take back (too long, or not URL-safe)', async () => {
    const { client: reflex } = await connected();
    const token = reflex.token;
    const changes: string[] = [];
    reflex.onTokenChange((next) => changes.push(next));
    for (const bad of ['x'.repeat(100_000), 'short', 'a&token=b-1234567', 'line\r\nbreak-12345']) server.sendRaw('new_token', JSON.stringify(bad));
    server.sendRaw('new_token', JSON.stringify('2f1c1e0a-8d0b-4f7e-9a55-0d6c3b1e9a10'));
    await eventually('the valid replacement', () => changes, (seen) => seen.length > 0);
    expect(changes).toEqual(['2f1c1e0a-8d0b-4f7e-9a55-0d6c3b1e9a10']);
    expect(reflex.token).not.toBe(token);
  });
});

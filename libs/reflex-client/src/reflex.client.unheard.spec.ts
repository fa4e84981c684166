import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Server } from 'socket.io';
import { eventually } from '../../../test/support/eventually.js';
import { SilencingProxy } from '../../../test/support/silencing-proxy.js';
import type { ConnectionError } from './connection.error.js';
import type { OutboundEvent } from './outbound-event.types.js';
import { HYDRATE_EVENT, ON_LOAD_INTERNAL_EVENT, ROOT_STATE_NAME } from './protocol.constants.js';
import { ReflexClient } from './reflex.client.js';

const COUNTER = `${ROOT_STATE_NAME}.counter_state`;

/** A server with a short heartbeat: `increment` answers with a delta, `noop` with nothing (nothing changed). */
class HeartbeatServer {
  readonly received: string[] = [];
  private http!: HttpServer;
  private io!: Server;
  port = 0;

  async start(): Promise<void> {
    this.http = createServer();
    // A dead connection is declared after pingInterval + pingTimeout of silence (the server sends both in its handshake: 145 s with the bridge's defaults).
    this.io = new Server(this.http, { path: '/_event', transports: ['websocket'], pingInterval: 1000, pingTimeout: 2000 });
    let count = 0;
    this.io.of('/_event').on('connection', (socket) => {
      socket.on('ping', () => socket.emit('ping', 'pong'));
      socket.on('event', (event: OutboundEvent) => {
        this.received.push(event.name);
        if (event.name === HYDRATE_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: false } } });
        if (event.name === ON_LOAD_INTERNAL_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: true } } });
        if (event.name === `${COUNTER}.increment`) socket.emit('event', { delta: { [COUNTER]: { count_rx_state_: (count += 1) } } });
      });
    });
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.port = (this.http.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      void this.io.close(() => resolve());
    });
  }
}

describe('ReflexClient on a connection that died silently', () => {
  let server: HeartbeatServer;
  let proxy: SilencingProxy;
  let client: ReflexClient | undefined;

  beforeEach(async () => {
    server = new HeartbeatServer();
    await server.start();
    proxy = await SilencingProxy.launch(server.port);
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await proxy.destroy();
    await server.stop();
  });

  it('reports the events sent since the server was last heard from as events_unconfirmed once the connection is declared dead', async () => {
    client = new ReflexClient({ url: `http://127.0.0.1:${proxy.port}`, storage: null, reconnect: { baseDelayMs: 10, maxDelayMs: 50 } });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    await client.connect();
    client.call(COUNTER, 'increment');
    client.call(COUNTER, 'noop');
    await client.waitFor(COUNTER, (vars) => vars['count'] === 1);
    // Heard from after both (the noop's answer is no answer: nothing changed).
    await client.ping();
    // The network path drops everything from now on; nothing tells either end.
    proxy.silence(0);
    client.call(COUNTER, 'increment', { by: 5 });
    client.call(COUNTER, 'noop');
    await eventually('the reconnection', () => client!.status === 'ready' && proxy.connections >= 2, (ready) => ready, 20_000);
    const kinds = errors.map((error) => error.kind);
    // Before, only the `disconnect` (ping timeout): the two clicks were gone, and nothing said so.
    expect(kinds).toEqual(['disconnect', 'events_unconfirmed']);
    expect(errors[1]!.data).toEqual({ events: [`${COUNTER}.increment`, `${COUNTER}.noop`], count: 2 });
    expect(errors[1]!.message).toContain('may not have run');
    // They never reached the server, and the client does not send them again on its own (they may have run).
    expect(server.received.filter((name) => name.startsWith(COUNTER))).toEqual([`${COUNTER}.increment`, `${COUNTER}.noop`]);
  }, 30_000);
});

describe('ReflexClient whose connect() times out on a server that never hydrates', () => {
  let http: HttpServer;
  let io: Server;
  const received: string[] = [];
  let client: ReflexClient | undefined;

  beforeEach(async () => {
    received.length = 0;
    http = createServer();
    // A server half up after a restart: it takes the socket and the events, and answers nothing (its default 25 s
    // heartbeat comes long after the client's deadline).
    io = new Server(http, { path: '/_event', transports: ['websocket'] });
    io.of('/_event').on('connection', (socket) => socket.on('event', (event: OutboundEvent) => received.push(event.name)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await new Promise<void>((resolve) => {
      void io.close(() => resolve());
    });
  });

  it('reports the queued events it flushed on that socket as events_unconfirmed after the timeout', async () => {
    const port = (http.address() as AddressInfo).port;
    client = new ReflexClient({ url: `http://127.0.0.1:${port}`, storage: null, connectTimeoutMs: 3000, reconnect: false });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    // Clicked before the connection was up: queued, then written on the socket after the hydrate sequence.
    client.call(COUNTER, 'increment');
    await expect(client.connect()).rejects.toMatchObject({ kind: 'timeout' });
    expect(received).toContain(`${COUNTER}.increment`);
    // Before, only the `timeout`: the click went out on a socket the timeout then closed, and nothing said so.
    expect(errors.map((error) => error.kind)).toEqual(['timeout', 'events_unconfirmed']);
    expect(errors[1]!.data).toEqual({ events: [`${COUNTER}.increment`], count: 1 });
    expect(client.queued).toBe(0);
  }, 30_000);
});

describe('ReflexClient whose server closes the connection after a live_subscribe', () => {
  let http: HttpServer;
  let io: Server;
  const received: string[] = [];
  let client: ReflexClient | undefined;

  beforeEach(async () => {
    received.length = 0;
    http = createServer();
    io = new Server(http, { path: '/_event', transports: ['websocket'] });
    let connections = 0;
    io.of('/_event').on('connection', (socket) => {
      connections += 1;
      const first = connections === 1;
      socket.on('event', (event: OutboundEvent) => {
        received.push(event.name);
        if (event.name === HYDRATE_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: false } } });
        if (event.name === ON_LOAD_INTERNAL_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: true } } });
        // A subscription with nothing to replay is not answered; then the server closes the socket (a deploy).
        if (event.name === `${COUNTER}.live_subscribe` && first) socket.disconnect(true);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await new Promise<void>((resolve) => {
      void io.close(() => resolve());
    });
  });

  it('does not report the live_subscribe it sends again on the next connection as an event that may not have run', async () => {
    const port = (http.address() as AddressInfo).port;
    client = new ReflexClient({ url: `http://127.0.0.1:${port}`, storage: null, reconnect: { baseDelayMs: 10, maxDelayMs: 50 } });
    const errors: ConnectionError[] = [];
    client.onConnectionError((error) => errors.push(error));
    await client.connect();
    client.call(COUNTER, 'live_subscribe');
    await eventually('the live_subscribe sent again after the reconnection', () => received.filter((name) => name === `${COUNTER}.live_subscribe`).length, (sent) => sent === 2);
    await eventually('ready again', () => client!.status, (status) => status === 'ready');
    // Before, also 'events_unconfirmed' naming the live_subscribe: the user was told it may not have run, while
    // the client itself sent it again once the next connection was ready.
    expect(errors.map((error) => error.kind)).toEqual(['disconnect']);
  }, 30_000);
});

describe('ReflexClient remembering the events it wrote until the server is heard from', () => {
  let http: HttpServer;
  let io: Server;
  const received: string[] = [];
  let client: ReflexClient | undefined;

  beforeEach(async () => {
    received.length = 0;
    http = createServer();
    // Hydrates, then answers nothing (its default 25 s heartbeat comes long after the test).
    io = new Server(http, { path: '/_event', transports: ['websocket'] });
    io.of('/_event').on('connection', (socket) =>
      socket.on('event', (event: OutboundEvent) => {
        received.push(event.name);
        if (event.name === ON_LOAD_INTERNAL_EVENT) socket.emit('event', { delta: { [ROOT_STATE_NAME]: { is_hydrated_rx_state_: true } } });
      }),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await new Promise<void>((resolve) => {
      void io.close(() => resolve());
    });
  });

  it('keeps only their names, not their payloads, once written', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const port = (http.address() as AddressInfo).port;
    client = new ReflexClient({ url: `http://127.0.0.1:${port}`, storage: null });
    await client.connect();
    // Made in a function, so nothing in the test holds it once sent.
    const send = (): WeakRef<object> => {
      const payload = { data: 'x'.repeat(500_000) };
      client!.call(COUNTER, 'save', payload);
      return new WeakRef(payload);
    };
    const sent = send();
    await eventually('the event received', () => received.includes(`${COUNTER}.save`), (ok) => ok);
    await eventually('the payload collected', () => {
      gc();
      return sent.deref() === undefined;
    }, (collected) => collected);
    // Before: held until the server was heard from (up to 100 payloads for 45 s on a dead connection); never collected here.
  }, 30_000);
});

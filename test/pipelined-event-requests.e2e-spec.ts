import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';
import { PingState } from './fixtures/flood.states.js';
import { OwnController } from './fixtures/own.controller.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { get, PipeliningClient } from './support/pipelining-client.js';

const PING = 'reflex___state____state.ping_state';
const POLLING = '/_event/?EIO=4&transport=polling';

describe('requests pipelined behind a refused request to the event path', () => {
  let running: RunningApp;
  const refusals: unknown[] = [];

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [PingState], controllers: [OwnController] });
    // Engine.IO reports every request it refuses (apps log these): one per request it was handed.
    const engine = (running.app.get(EventGateway).server!.server as unknown as { engine: NodeJS.EventEmitter }).engine;
    engine.on('connection_error', (error: unknown) => refusals.push(error));
  });

  afterAll(async () => {
    await running.close();
  });

  it('are not handled: 2,000 long-polling requests in one write cost one refusal, and another client is served', async () => {
    const victim = await RawSocket.hydrated(running.url);
    const flooder = new PipeliningClient(running.url);
    refusals.length = 0;
    OwnController.served = 0;
    // Thousands of long-polling requests in one write, then one for an app route, which shares the connection's fate.
    await flooder.write(get(POLLING).repeat(2_000) + get('/own'));
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1);
    await eventually('the flooding connection to close', () => flooder.closed, (closed) => closed);
    // One answer, the refusal of the first request, and the connection closed after it.
    expect(flooder.statuses).toEqual(['HTTP/1.1 400']);
    // Engine.IO was handed that one request, not the rest of what the reads held (about 1,985 before).
    expect(refusals).toHaveLength(1);
    expect(OwnController.served).toBe(0);
    victim.close();
  });

  it("leave the app's own routes alone: a client pipelining requests to them gets every answer", async () => {
    const client = new PipeliningClient(running.url);
    OwnController.served = 0;
    await client.write(get('/own').repeat(3));
    await eventually('three answers', () => client.statuses.length, (answers) => answers >= 3);
    expect(client.statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(OwnController.served).toBe(3);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('a request to the event path on a connection that served app routes is still refused on its own', async () => {
    const client = new PipeliningClient(running.url);
    refusals.length = 0;
    await client.write(get('/own') + get(POLLING));
    await eventually('the connection to close', () => client.closed, (closed) => closed);
    expect(client.statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
    expect(refusals).toHaveLength(1);
  });
});

/** A CORS preflight of a long-polling request to the event path from `origin`, as a browser sends it. */
const preflight = (origin: string) =>
  `OPTIONS ${POLLING} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n`;

describe('requests pipelined behind a CORS preflight of the event path', () => {
  let running: RunningApp | undefined;
  const refusals: unknown[] = [];

  const start = async (options: { corsOrigins?: string[] }) => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [PingState], controllers: [OwnController] });
    const engine = (running.app.get(EventGateway).server!.server as unknown as { engine: NodeJS.EventEmitter }).engine;
    engine.on('connection_error', (error: unknown) => refusals.push(error));
  };
  /** Writes a preflight from `origin`, then app requests and more requests to the event path, in one write. */
  const pipelineBehindPreflight = async (origin: string) => {
    const client = new PipeliningClient(running!.url);
    refusals.length = 0;
    OwnController.served = 0;
    await client.write(preflight(origin) + get('/own') + preflight(origin) + get(POLLING).repeat(100) + get('/own'));
    await eventually('the connection to close', () => client.closed, (closed) => closed);
    return client;
  };

  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('with corsOrigins, a listed origin gets its preflight answered, the connection closed, and nothing behind it reaches the app', async () => {
    await start({ corsOrigins: ['http://front.example'] });
    const victim = await RawSocket.hydrated(running!.url);
    const client = await pipelineBehindPreflight('http://front.example');
    expect(client.statuses).toEqual(['HTTP/1.1 204']);
    expect(client.answer).toMatch(/\r\nAccess-Control-Allow-Origin: http:\/\/front\.example\r\n/i);
    expect(client.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(OwnController.served).toBe(0);
    // Answered by CORS before Engine.IO looks at it: no refusal, and none of the long-polling requests behind it.
    expect(refusals).toHaveLength(0);
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1);
    victim.close();
  });

  it('with corsOrigins, an unlisted origin gets an answer that allows it nothing, and nothing behind it reaches the app', async () => {
    await start({ corsOrigins: ['http://front.example'] });
    const client = await pipelineBehindPreflight('http://evil.example');
    // CORS answers every preflight; the browser refuses the request for the missing Access-Control-Allow-Origin.
    expect(client.statuses).toEqual(['HTTP/1.1 204']);
    expect(client.answer).not.toMatch(/Access-Control-Allow-Origin/i);
    expect(client.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(OwnController.served).toBe(0);
    expect(refusals).toHaveLength(0);
  });

  it('without corsOrigins, the preflight is refused like any plain request to the event path, and nothing behind it reaches the app', async () => {
    await start({});
    const client = await pipelineBehindPreflight('http://front.example');
    expect(client.statuses).toEqual(['HTTP/1.1 400']);
    expect(client.answer).not.toMatch(/Access-Control-Allow-Origin/i);
    expect(client.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(OwnController.served).toBe(0);
    expect(refusals).toHaveLength(1);
  });
});

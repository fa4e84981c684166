/**
 * The query of a WebSocket handshake to the event server: Engine.IO's protocol revision must be 4, and a query may
 * carry at most 32 parameters (Socket.IO keeps it parsed for the connection's life). Both are refused before the
 * upgrade, with an HTTP answer a client can read; Engine.IO itself checked the revision only after upgrading, and
 * wrote its refusal into the WebSocket stream (read as a broken frame).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { PingState } from './fixtures/flood.states.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const PING = 'reflex___state____state.ping_state';

type Handshake = { opened: true; firstMessage: string } | { opened: false; status: number; body: string; frameError?: string };

/** Opens a plain WebSocket to the event path with `query`: its first message once open, or the refusal as read. */
function handshake(url: string, query: string): Promise<Handshake> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/_event/?${query}`);
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        ws.terminate();
        resolve({ opened: false, status: response.statusCode ?? 0, body });
      });
    });
    ws.on('message', (data) => {
      ws.close();
      resolve({ opened: true, firstMessage: String(data) });
    });
    // What a client saw when the refusal came inside the WebSocket stream.
    ws.on('error', (error) => resolve({ opened: false, status: 101, body: '', frameError: error.message }));
  });
}

describe('the query of a handshake to the event server', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [PingState] });
  });

  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close();
  });

  const token = () => `token=${randomUUID()}`;

  it('opens a connection for the query Reflex sends, and one with a few parameters more', async () => {
    expect(await handshake(running.url, `EIO=4&transport=websocket&${token()}`)).toMatchObject({ opened: true, firstMessage: expect.stringMatching(/^0\{"sid":/) });
    const extra = Array.from({ length: 29 }, (_, i) => `p${i}=x`).join('&');
    expect(await handshake(running.url, `EIO=4&transport=websocket&${token()}&${extra}`)).toMatchObject({ opened: true });
  });

  it('refuses another Engine.IO revision, or none, with a readable 400 before the upgrade', async () => {
    for (const eio of ['EIO=3&', 'EIO=5&', '']) {
      const answer = await handshake(running.url, `${eio}transport=websocket&${token()}`);
      expect({ eio, answer }).toEqual({ eio, answer: { opened: false, status: 400, body: expect.stringMatching(/^unsupported_protocol: /) } });
    }
  });

  it('refuses a query of more than 32 parameters, however short', async () => {
    const extra = Array.from({ length: 2_900 }, (_, i) => `k${i.toString(36)}`).join('&');
    const answer = await handshake(running.url, `EIO=4&transport=websocket&${token()}&${extra}`);
    expect(answer).toEqual({ opened: false, status: 400, body: expect.stringMatching(/^too_many_query_params: /) });
  });

  it('keeps serving other clients through the refusals', async () => {
    const tab = await RawSocket.hydrated(running.url, sockets);
    await Promise.all(Array.from({ length: 20 }, (_, i) => handshake(running.url, i % 2 ? `EIO=3&${token()}` : `EIO=4&${token()}&${Array.from({ length: 40 }, (_, j) => `q${j}`).join('&')}`)));
    tab.send(`${PING}.ping`);
    await tab.untilVar(PING, 'pings', 1);
    expect(tab.errors).toEqual([]);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { HoardState } from './fixtures/hostile.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const HOARD = 'reflex___state____state.hoard_state';

/** How a raw WebSocket handshake to the event server ended: accepted, or refused with an HTTP answer. */
type Handshake = { socket: WebSocket; accepted: true } | { accepted: false; status: number; retryAfter?: string; body: Record<string, unknown> };

/**
 * A WebSocket handshake to `/_event` as a Socket.IO client starts one, from `localAddress` (any 127.x.y.z reaches the
 * loopback server from its own address), with `headers`.
 */
function handshake(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<Handshake> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`, { localAddress, headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, accepted: true }));
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ accepted: false, status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body: JSON.parse(text) as Record<string, unknown> }));
      response.on('error', reject);
    });
    socket.once('error', (error) => reject(error));
  });
}

function withBridge(options: ReflexBridgeModuleOptions): { readonly running: RunningApp; logger: CapturingLogger } {
  let running: RunningApp | undefined;
  const logger = new CapturingLogger();
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [HoardState] }, undefined, logger);
  });
  afterAll(async () => {
    await running?.close();
  });
  return {
    get running() {
      if (!running) throw new Error('the app is not started yet');
      return running;
    },
    logger,
  };
}

describe('connections per client address (maxConnectionsPerAddress)', () => {
  const bridge = withBridge({ maxConnectionsPerAddress: 3 });
  const opened: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const socket of opened.splice(0)) socket.close();
  });
  const refusals = () => bridge.logger.lines.filter((line) => line.level === 'warn' && line.message.includes('Refusing event connections')).length;

  it('refuses an address its next connection past the limit, with a 429 the client can read, while its tabs and other addresses go on', async () => {
    const tabs: RawSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const tab = await RawSocket.hydrated(bridge.running.url, tabs);
      opened.push(tab);
    }
    const refusedBefore = refusals();
    for (let i = 0; i < 4; i++) {
      const refused = await handshake(bridge.running.url, '127.0.0.1');
      expect(refused).toEqual({ accepted: false, status: 429, retryAfter: '5', body: expect.objectContaining({ code: 'too_many_connections', limit: 3 }) });
    }
    // Logged once for the address, however many refusals.
    expect(refusals()).toBe(refusedBefore + 1);
    // Another address connects; the address's own tabs are still served.
    const other = await handshake(bridge.running.url, '127.0.0.2');
    expect(other.accepted).toBe(true);
    if (other.accepted) opened.push(other.socket);
    tabs[0]!.send(`${HOARD}.increment`);
    await tabs[0]!.untilVar(HOARD, 'count', 1);
    // One tab closed: a new connection from the address is let in (once the server saw it close).
    tabs[1]!.close();
    const next = await eventually('a connection from the address is accepted again', () => handshake(bridge.running.url, '127.0.0.1'), (result) => {
      if (!result.accepted) return false;
      opened.push(result.socket);
      return true;
    });
    expect(next.accepted).toBe(true);
  });

  it('lets exactly the limit through when an address opens many connections at once', async () => {
    const burst = await Promise.all(Array.from({ length: 30 }, () => handshake(bridge.running.url, '127.0.0.3')));
    for (const result of burst) if (result.accepted) opened.push(result.socket);
    expect(burst.filter((result) => result.accepted)).toHaveLength(3);
    expect(burst.filter((result) => !result.accepted && result.status === 429)).toHaveLength(27);
  });

  it('gives a place back for every connection that closed, however it ended', async () => {
    for (let round = 0; round < 40; round++) {
      const result = await handshake(bridge.running.url, '127.0.0.4');
      expect(result.accepted).toBe(true);
      if (!result.accepted) continue;
      // Half the time the client goes away without a close frame.
      if (round % 2 === 0) result.socket.close();
      else result.socket.terminate();
      await new Promise((resolve) => result.socket.once('close', resolve));
    }
    const held = await eventually('the address holds its whole share again', () => Promise.all([0, 1, 2].map(() => handshake(bridge.running.url, '127.0.0.4'))), (results) => {
      for (const result of results) if (result.accepted) opened.push(result.socket);
      if (results.every((result) => result.accepted)) return true;
      for (const socket of opened.splice(0)) socket.close();
      return false;
    });
    expect(held.every((result) => result.accepted)).toBe(true);
  });
});

describe('connections per client address behind a proxy', () => {
  const trusted = withBridge({ maxConnectionsPerAddress: 2, bridge: { trustProxy: true } });
  const opened: WebSocket[] = [];
  afterAll(() => {
    for (const socket of opened) socket.close();
  });

  it('counts each forwarded client on its own with bridge.trustProxy', async () => {
    const from = (address: string) => handshake(trusted.running.url, '127.0.0.5', { 'X-Forwarded-For': address });
    for (const address of ['198.51.100.1', '198.51.100.1', '198.51.100.2', '198.51.100.2']) {
      const result = await from(address);
      expect(result.accepted).toBe(true);
      if (result.accepted) opened.push(result.socket);
    }
    // A client that writes its own X-Forwarded-For entry still counts as the address the proxy saw.
    const forged = await from('203.0.113.9, 198.51.100.1');
    expect(forged).toEqual(expect.objectContaining({ accepted: false, status: 429 }));
  });
});

describe('connections per client address behind a proxy that is not trusted', () => {
  const untrusted = withBridge({ maxConnectionsPerAddress: 1 });
  const opened: WebSocket[] = [];
  afterAll(() => {
    for (const socket of opened) socket.close();
  });

  it('counts every client as the proxy, and the log says why', async () => {
    const first = await handshake(untrusted.running.url, '127.0.0.6', { 'X-Forwarded-For': '198.51.100.1' });
    if (first.accepted) opened.push(first.socket);
    const second = await handshake(untrusted.running.url, '127.0.0.6', { 'X-Forwarded-For': '198.51.100.2' });
    expect(second).toEqual(expect.objectContaining({ accepted: false, status: 429 }));
    expect(untrusted.logger.lines).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('bridge.trustProxy is unset') }));
  });
});

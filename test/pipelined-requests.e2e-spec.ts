/**
 * HTTP/1.1 pipelining on any route: Node's HTTP server parses every request of a read at once and runs each,
 * queueing their answers, and reads on while no written answer waits for the client. A script writing thousands of
 * requests in one go had all of them run: 16 such connections made a shop with an SPA hold 1.6-2.6 GB and work for a
 * minute after they left. Past a bound of waiting answers a connection now gets nothing more run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { MAX_WAITING_ANSWERS } from '../libs/reflex-bridge/src/security/pipelined-requests.guard.js';
import { PingState } from './fixtures/flood.states.js';
import { OwnController } from './fixtures/own.controller.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { get, PipeliningClient } from './support/pipelining-client.js';
import { RawSocket } from './support/raw-socket.js';

const PING = 'reflex___state____state.ping_state';

describe('a connection pipelining more requests than it may have answers waiting', () => {
  let running: RunningApp;
  let rootPath: string;
  /** Requests the app's Express middleware was handed. */
  let handed = 0;

  beforeAll(async () => {
    rootPath = await mkdtemp(join(tmpdir(), 'pipelined-e2e-'));
    await writeFile(join(rootPath, 'index.html'), '<!doctype html><title>spa</title>');
    running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ spa: { rootPath } })], providers: [PingState], controllers: [OwnController] },
      (app) => {
        app.use((_req: unknown, _res: unknown, next: () => void) => {
          handed += 1;
          next();
        });
      },
    );
  });

  afterAll(async () => {
    await running?.close();
    await rm(rootPath, { recursive: true, force: true });
  });

  it('is closed, and none of its requests past the bound reaches the app', async () => {
    const client = new PipeliningClient(running.url);
    OwnController.served = 0;
    handed = 0;
    await client.write(get('/own').repeat(2_000));
    await eventually('the connection to close', () => client.closed, (closed) => closed);
    // The request whose answer was being written and the ones waiting behind it: no more.
    expect(handed).toBe(MAX_WAITING_ANSWERS + 1);
    expect(OwnController.served).toBeLessThanOrEqual(MAX_WAITING_ANSWERS + 1);
  });

  it('SPA pages the same, for a client that reads nothing, while another client is served', async () => {
    const victim = await RawSocket.hydrated(running.url);
    handed = 0;
    const flooder = new PipeliningClient(running.url);
    flooder.pause();
    await flooder.write(get('/cart').repeat(20_000));
    victim.send(`${PING}.ping`);
    await victim.untilVar(PING, 'pings', 1);
    await eventually('the app to have been handed the requests within the bound', () => handed, (seen) => seen >= MAX_WAITING_ANSWERS + 1);
    // Written in one go, the 20,000 requests were all read: only the first ones were run.
    expect(handed).toBe(MAX_WAITING_ANSWERS + 1);
    flooder.destroy();
    victim.close();
  });

  it('a client pipelining within the bound gets every answer and keeps its connection', async () => {
    const client = new PipeliningClient(running.url);
    OwnController.served = 0;
    await client.write(get('/own').repeat(MAX_WAITING_ANSWERS + 1));
    await eventually('every answer', () => client.statuses.length, (answers) => answers >= MAX_WAITING_ANSWERS + 1);
    expect(client.answer).not.toMatch(/Connection: close/i);
    // And goes on: the bound counts the answers waiting, not the requests of a connection.
    await client.write(get('/own').repeat(MAX_WAITING_ANSWERS + 1));
    await eventually('every answer of the second batch', () => client.statuses.length, (answers) => answers >= 2 * (MAX_WAITING_ANSWERS + 1));
    expect(client.closed).toBe(false);
    expect(OwnController.served).toBe(2 * (MAX_WAITING_ANSWERS + 1));
    client.destroy();
  });
});

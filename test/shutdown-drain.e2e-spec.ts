import { afterEach, describe, expect, it } from '@jest/globals';
import { EventHandler, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { createClient } from 'redis';
import { randomUUID } from 'node:crypto';
import { StateJsTab } from './support/state-js-reconnect.js';
import { Gate } from './support/handler-gate.js';

const GATE = 'reflex___state____state.gate_state';

@State()
class GateState {
  count = 0;

  @EventHandler()
  async hold(): Promise<void> {
    Gate.entered = true;
    await Gate.opened;
    this.count += 1;
  }

  @EventHandler()
  bump(): void {
    this.count += 10;
  }
}

describe('app.close() with events running and queued', () => {
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    Gate.release();
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
  });

  /** An app with `options`, and a hydrated client whose event holds the gate (the event running when close() comes). */
  async function appHoldingAnEvent(options: Parameters<typeof ReflexBridgeModule.forRoot>[0]): Promise<{ running: RunningApp; client: RawSocket }> {
    Gate.reset();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [GateState] });
    apps.push(running);
    const client = await RawSocket.hydrated(running.url, sockets);
    client.send(`${GATE}.hold`);
    await until(() => Gate.entered, 'the held handler to start');
    return { running, client };
  }

  it("lets the running event finish and its delta reach the client, then runs the events its client sent behind it, and answers an idle client's 'server_stopping'", async () => {
    const { running, client } = await appHoldingAnEvent({});
    client.send(`${GATE}.bump`);
    client.send(`${GATE}.bump`);
    // The server has read both: they wait behind the held one.
    await client.ping();
    const latecomer = await RawSocket.hydrated(running.url, sockets);
    let left = false;
    latecomer.socket.on('disconnect', () => (left = true));
    const closed = running.close();
    let closeDone = false;
    void closed.then(() => (closeDone = true));
    // Once the shutdown has begun, a new event is refused (or, before, the socket was closed at once).
    await until(() => {
      if (!left) latecomer.send(`${GATE}.bump`);
      return left || closeDone || latecomer.errors.some((error) => error.code === 'server_stopping');
    }, 'the shutdown to begin');
    expect(latecomer.errors.filter((error) => error.code !== 'server_stopping')).toEqual([]);
    Gate.release();
    await closed;
    // Before: the socket was closed at once; the held event's change and both queued events went unanswered. Then the
    // queued ones were answered `server_stopping`, which Reflex's state.js ignores (shown an error toast, the clicks
    // lost); now they run within the grace, as the held one did.
    await client.until(() => client.latest(GATE, 'count') === 21, 20_000, 'the held event\'s delta and both queued ones');
    expect(client.updates.map((update) => update.delta?.[GATE]?.count_rx_state_).filter((count) => count !== undefined)).toEqual([0, 1, 11, 21]);
    expect(client.errors).toEqual([]);
  });

  it("refuses a tab connecting once the shutdown began (connect_error 'server_stopping'), which state.js tries again", async () => {
    const { running, client } = await appHoldingAnEvent({});
    const idle = await RawSocket.hydrated(running.url, sockets);
    const closed = running.close();
    apps.splice(0);
    // The drain has begun once an idle client's event is refused.
    await until(() => {
      idle.send(`${GATE}.bump`);
      return idle.errors.some((error) => error.code === 'server_stopping');
    }, 'the shutdown to begin');
    const tab = new StateJsTab(running.url, randomUUID());
    try {
      await until(() => tab.connects > 0 || tab.connectErrors.length >= 2, 'the new tab to be answered, and to try again');
      // Before: let in (its every event then refused `server_stopping` until the sockets closed, its admission reading a
      // session store the app may have closed); now refused, so it tries again, which behind a proxy reaches another worker.
      expect(tab.connects).toBe(0);
      expect(tab.connectErrors.slice(0, 2).map((error) => error.data)).toEqual([{ code: 'server_stopping' }, { code: 'server_stopping' }]);
    } finally {
      tab.close();
      Gate.release();
      await closed;
    }
    await client.until(() => client.latest(GATE, 'count') === 1, 20_000, "the held event's delta");
  });

  it('does not wait past shutdownGraceMs for a handler that never ends', async () => {
    const { running } = await appHoldingAnEvent({ shutdownGraceMs: 200 });
    // The gate is never opened: close() ends once the grace has passed (jest's timeout, 60 s, is the deadline).
    await running.close();
    apps.splice(0);
  });
});

describeWithRedis('app.close() with redisUrl and an event running', () => {
  let redis: RedisTestServer | undefined;
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    Gate.release();
    for (const socket of sockets.splice(0)) socket.close();
    await redis?.destroy();
  });

  it("saves the running event's change to Redis and answers it before the module closes its Redis connections, which it then does", async () => {
    Gate.reset();
    redis = await RedisTestServer.launch();
    const admin = createClient({ url: redis.url });
    await admin.connect();
    try {
      const clientNames = async () => String(await admin.sendCommand(['CLIENT', 'LIST'])).split('\n').map((line) => /name=(\S+)/.exec(line)?.[1]).filter((name) => name?.startsWith('rx:'));
      const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [GateState] });
      const client = await RawSocket.hydrated(running.url, sockets);
      client.send(`${GATE}.hold`);
      await until(() => Gate.entered, 'the held handler to start');
      expect((await clientNames()).sort()).toEqual(['rx:commands', 'rx:subscriber']);
      const latecomer = await RawSocket.hydrated(running.url, sockets);
      const closed = running.close();
      // Released once the shutdown has begun (a new event is refused), or (before) once the close has ended.
      let closeDone = false;
      void closed.then(() => (closeDone = true));
      await until(() => {
        if (latecomer.socket.connected) latecomer.send(`${GATE}.bump`);
        return closeDone || latecomer.errors.some((error) => error.code === 'server_stopping');
      }, 'the shutdown to begin');
      Gate.release();
      await closed;
      await client.until(() => client.latest(GATE, 'count') === 1, 20_000, "the held event's delta");
      const saved = await admin.hGet(`rx:state:v2:{${client.token}}`, GATE);
      expect(JSON.parse(saved ?? '{}')).toEqual({ count: 1 });
      await until(async () => (await clientNames()).length === 0 || undefined, "the module's Redis connections to close");
    } finally {
      await admin.quit();
    }
  });
});

import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from '@jest/globals';
import { EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { ConnectionError, ReflexClient, type BridgeErrorPayload } from '@reflex-bridge/client';
import { io, type Socket } from 'socket.io-client';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { FailoverProxy, portOf } from './support/failover-proxy.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const STATE = 'reflex___state____state.closing_click_state';

@State()
class ClosingClickState {
  count = 0;

  @EventHandler()
  add(@Payload('by') by: number): void {
    this.count += by;
  }
}

describeWithRedis('@reflex-bridge/client on a worker that stops while the user clicks: the closing notice', () => {
  let redis: RedisTestServer | undefined;
  const apps: RunningApp[] = [];
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const running of apps.splice(0)) await running.close().catch(() => undefined);
    await redis?.destroy();
  });

  const workers = async () => {
    redis = await RedisTestServer.launch();
    const worker = () => startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis!.url })], providers: [ClosingClickState] });
    const a = await worker();
    const b = await worker();
    apps.push(a, b);
    return { a, b };
  };

  it('loses no click sent as the worker closes the connection: each runs once, on one worker or the next, with nothing reported', async () => {
    const { a, b } = await workers();
    const proxy = await FailoverProxy.launch(portOf(a.url));
    closers.push(() => proxy.close());
    const client = new ReflexClient({ url: proxy.url, reconnect: { baseDelayMs: 20, maxDelayMs: 200 }, maxQueuedEvents: 100_000 });
    closers.push(() => client.disconnect());
    const errors: BridgeErrorPayload[] = [];
    const problems: ConnectionError[] = [];
    client.onError((error) => errors.push(error));
    client.onConnectionError((error) => problems.push(error));
    await client.connect();
    let readies = 0;
    client.onStatus((status) => {
      if (status === 'ready') readies += 1;
    });

    // The user clicks without pause (one click a millisecond or so) while worker A stops and the client moves to B.
    let clicks = 0;
    let clicking = true;
    const clicker = (async () => {
      while (clicking) {
        client.call(STATE, 'add', { by: 1 });
        clicks += 1;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    await until(() => (clicks >= 50 ? true : undefined), 'the first clicks');
    proxy.targetPort = portOf(b.url);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    await until(() => (readies > 0 ? true : undefined), 'the client ready again, on worker B');
    // Some clicks on B too, then the user stops.
    const onB = clicks + 50;
    await until(() => (clicks >= onB ? true : undefined), 'clicks on worker B');
    clicking = false;
    await clicker;

    await until(() => (client.queued === 0 ? true : undefined), 'the queued clicks to be sent');
    // Every click runs and its answer reaches the client. Not a ping: the server answers one as it reads it, before
    // the events read ahead of it have run (each waits for its token's lock and save), so on a loaded machine the
    // last clicks' answers came after the pong, and a count read then was short of clicks that were still running.
    const count = () => client.state<{ count: number }>(STATE)?.count;
    await until(() => (count() === clicks ? true : undefined), 'the count to reach the clicks').catch(() => undefined);
    expect({ count: count(), clicks }).toEqual({ count: clicks, clicks });
    // Before: "N events sent since the server was last heard from may not have run", and the count short of the clicks.
    expect(problems.filter((problem) => problem.kind === 'events_unconfirmed')).toEqual([]);
    expect(errors).toEqual([]);
  }, 180_000);

  it('closes a client that asked for the notice and never answers it with the server; an answer never asked for closes nothing; a Reflex frontend is never told', async () => {
    const { a } = await workers();
    const connect = (query: Record<string, string>): Socket =>
      io(`${a.url}/_event`, { path: '/_event', transports: ['websocket'], query: { token: randomUUID(), ...query }, reconnection: false });
    // Asks for the notice (as this module's client does), then never answers it: a hung tab.
    const silent = connect({ closing_notice: '1' });
    // As Reflex's state.js connects: no closing_notice; it sends an answer nobody asked for, as a hostile client may.
    const reflexLike = connect({});
    const sockets = { silent, reflexLike };
    const told: string[] = [];
    const reasons: Record<string, Promise<string>> = {};
    for (const [name, socket] of Object.entries(sockets)) {
      closers.push(() => socket.disconnect());
      socket.on('server_closing', () => told.push(name));
      reasons[name] = new Promise<string>((resolve) => socket.on('disconnect', resolve));
    }
    await until(() => (silent.connected && reflexLike.connected ? true : undefined), 'both sockets to connect');
    reflexLike.emit('closing_ack');
    // Still served after it: the server answers a ping on the same connection.
    const pong = await new Promise<unknown>((resolve) => {
      reflexLike.once('ping', resolve);
      reflexLike.emit('ping');
    });
    expect(pong).toBe('pong');

    await a.close();
    apps.splice(apps.indexOf(a), 1);
    expect(told).toEqual(['silent']);
    expect(await reasons['silent']).toBe('transport close');
    expect(await reasons['reflexLike']).toBe('transport close');
  }, 120_000);
});

import { afterEach, expect, it } from '@jest/globals';
import { EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { ReflexClient, type BridgeErrorPayload } from '@reflex-bridge/client';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { FailoverProxy, portOf } from './support/failover-proxy.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { Gate } from './support/handler-gate.js';

const STATE = 'reflex___state____state.resend_gate_state';

@State()
class ResendGateState {
  count = 0;

  @EventHandler()
  async hold(): Promise<void> {
    Gate.entered = true;
    await Gate.opened;
  }

  @EventHandler()
  add(@Payload('by') by: number): void {
    this.count += by;
  }
}

describeWithRedis('@reflex-bridge/client on a worker that stops: a click the drain refused `server_stopping`', () => {
  let redis: RedisTestServer | undefined;
  const apps: RunningApp[] = [];
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    Gate.release();
    for (const close of closers.splice(0).reverse()) await close();
    for (const running of apps.splice(0)) await running.close().catch(() => undefined);
    await redis?.destroy();
  });

  it('is sent again once the client reconnected (to the other worker behind the proxy) and runs there once, with no error reported', async () => {
    Gate.reset();
    redis = await RedisTestServer.launch();
    const worker = () => startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis!.url })], providers: [ResendGateState] });
    const a = await worker();
    const b = await worker();
    apps.push(a, b);
    const proxy = await FailoverProxy.launch(portOf(a.url));
    closers.push(() => proxy.close());
    const client = new ReflexClient({ url: proxy.url, reconnect: { baseDelayMs: 50, maxDelayMs: 500 } });
    closers.push(() => client.disconnect());
    const errors: BridgeErrorPayload[] = [];
    client.onError((error) => errors.push(error));
    await client.connect();
    client.call(STATE, 'add', { by: 1 });
    await client.waitFor<{ count: number }>(STATE, (vars) => vars.count === 1, 20_000);

    // Another tab's event runs on A, so A's drain (and the client's connection) stays open while the client clicks.
    const holder = await RawSocket.hydrated(a.url);
    closers.push(() => holder.close());
    holder.send(`${STATE}.hold`);
    await until(() => Gate.entered || undefined, 'the held handler to start');
    const idle = await RawSocket.hydrated(a.url);
    closers.push(() => idle.close());
    const closed = a.close();
    apps.splice(apps.indexOf(a), 1);
    // nginx sends the client's next connection to another worker.
    proxy.targetPort = portOf(b.url);
    // An idle tab's refused event tells the test the drain has begun.
    await until(() => {
      if (idle.socket.connected) idle.send(`${STATE}.add`, { by: 0 });
      return idle.errors.some((error) => error.code === 'server_stopping') || undefined;
    }, "worker A's shutdown to begin");

    // The user clicks while A stops: A refuses the click (not run), with its payload.
    client.call(STATE, 'add', { by: 10 });
    await until(() => client.queued === 1 || errors.length > 0 || undefined, 'the click to be refused');
    // Before: reported to onError (the app's toast) and never sent again, the count staying 1 on B.
    expect({ queued: client.queued, errors }).toEqual({ queued: 1, errors: [] });

    Gate.release();
    await closed;
    const state = await client.waitFor<{ count: number }>(STATE, (vars) => vars.count === 11, 20_000);
    expect(state.count).toBe(11);
    // It ran once: nothing more comes (the server answers a ping after every frame sent before it).
    await client.ping();
    expect(client.state(STATE)).toEqual({ count: 11 });
    expect(errors).toEqual([]);
    expect(client.queued).toBe(0);
  }, 120_000);
});

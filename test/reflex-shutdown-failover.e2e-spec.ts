import { afterEach, expect, it } from '@jest/globals';
import { EventHandler, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { randomUUID } from 'node:crypto';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { FailoverProxy, portOf } from './support/failover-proxy.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { StateJsTab } from './support/state-js-reconnect.js';
import { Gate } from './support/handler-gate.js';

const GATE = 'reflex___state____state.failover_gate_state';
const HYDRATE = 'reflex___state____state.hydrate';

@State()
class FailoverGateState {
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

type Update = { delta?: Record<string, Record<string, unknown>>; events?: Array<{ name: string }> };

describeWithRedis("a Reflex tab on a worker that stops (SIGTERM, a rolling restart) while one of its events runs, another worker behind the proxy", () => {
  let redis: RedisTestServer | undefined;
  const apps: RunningApp[] = [];
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    Gate.release();
    for (const close of closers.splice(0).reverse()) await close();
    for (const running of apps.splice(0)) await running.close().catch(() => undefined);
    await redis?.destroy();
  });

  it("gets the running event's delta, runs what the user clicked meanwhile with no error shown, and comes back on the other worker with its token and state", async () => {
    Gate.reset();
    redis = await RedisTestServer.launch();
    const worker = () => startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis!.url })], providers: [FailoverGateState] });
    const a = await worker();
    const b = await worker();
    apps.push(a, b);
    const proxy = await FailoverProxy.launch(portOf(a.url));
    closers.push(() => proxy.close());
    const token = randomUUID();
    const tab = new StateJsTab(proxy.url, token);
    closers.push(() => tab.close());
    // Everything the tab received, across its connections (the tab keeps only what came since its last connect).
    const received: Update[] = [];
    tab.socket.on('event', (update: Update) => received.push(update));
    await until(() => tab.connects === 1 || undefined, 'the tab to connect to worker A');
    tab.send(HYDRATE);
    tab.send(`${GATE}.bump`);
    await tab.until('the first click', () => tab.latest(GATE, 'count') === 10);
    tab.send(`${GATE}.hold`);
    await until(() => Gate.entered || undefined, 'the held handler to start');

    // Another tab on A, idle: its refused event tells the test the drain has begun.
    const idle = await RawSocket.hydrated(a.url);
    closers.push(() => idle.close());
    const closed = a.close();
    apps.splice(apps.indexOf(a), 1);
    // nginx sends the tab's next connection to another worker.
    proxy.targetPort = portOf(b.url);
    await until(() => {
      if (idle.socket.connected) idle.send(`${GATE}.bump`);
      return idle.errors.some((error) => error.code === 'server_stopping') || undefined;
    }, "worker A's shutdown to begin");

    // The user clicks again while the slow event still runs; A reads it before the slow event ends.
    tab.send(`${GATE}.bump`);
    // The server answers `ping` after every frame sent before it.
    await new Promise<void>((resolve) => {
      tab.socket.once('ping', () => resolve());
      tab.socket.emit('ping');
    });
    Gate.release();
    await closed;

    await until(() => (tab.connects === 2 && tab.disconnects.length === 1) || undefined, 'the tab to reconnect, through the proxy, to worker B');
    tab.send(HYDRATE);
    await tab.until('the state on worker B', () => tab.latest(GATE, 'count') !== undefined);
    // Before: the click sent during the drain was answered `bridge_error` `server_stopping`, which state.js ignores, with
    // an error toast, and was never run: the state on B had 11.
    expect(tab.latest(GATE, 'count')).toBe(21);
    expect(received.some((update) => update.delta?.[GATE]?.count_rx_state_ === 11)).toBe(true);
    expect(tab.bridgeErrors).toEqual([]);
    expect(received.flatMap((update) => update.events ?? []).map((event) => event.name)).toEqual([]);
    expect(tab.disconnects).toEqual(['transport close']);
    expect(tab.newTokens).toEqual([]);
    expect(tab.token).toBe(token);
  });
});

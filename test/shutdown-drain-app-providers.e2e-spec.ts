import { afterEach, expect, it } from '@jest/globals';
import { Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventHandler, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { createClient } from 'redis';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const VISITS = 'reflex___state____state.visits_state';

/** A handler the test holds open, to shut the app down while it runs. */
class Gate {
  static entered = false;
  static release: () => void = () => undefined;
  static opened: Promise<void> = Promise.resolve();
  static reset(): void {
    Gate.entered = false;
    Gate.opened = new Promise<void>((resolve) => (Gate.release = resolve));
  }
}

/**
 * An app provider holding a real Redis connection that it closes in its own `onModuleDestroy`, as apps do with their
 * Redis clients, pg pools or DataSources.
 */
@Injectable()
class VisitCounter implements OnModuleInit, OnModuleDestroy {
  static url = '';
  static closing = false;
  private readonly client = createClient({ url: VisitCounter.url });

  async onModuleInit(): Promise<void> {
    VisitCounter.closing = false;
    await this.client.connect();
  }

  async onModuleDestroy(): Promise<void> {
    VisitCounter.closing = true;
    await this.client.quit();
  }

  count(): Promise<number> {
    return this.client.incr('visits');
  }
}

@State()
class VisitsState {
  visits = 0;

  constructor(private readonly counter: VisitCounter) {}

  /** Uses the app's Redis connection after an await, while the app is being closed. */
  @EventHandler()
  async visit(): Promise<void> {
    Gate.entered = true;
    await Gate.opened;
    this.visits = await this.counter.count();
  }
}

/** The counter two modules below the root (root → outer → inner). */
@Module({ providers: [VisitCounter], exports: [VisitCounter] })
class InnerCounterModule {}
@Module({ imports: [InnerCounterModule], exports: [InnerCounterModule] })
class OuterCounterModule {}

/** The counter in a global module of the app's own (destroyed, like every global module, after the root's modules). */
@Module({ providers: [VisitCounter], exports: [VisitCounter] })
class GlobalCounterModule {}
const globalCounter = { module: GlobalCounterModule, global: true };

describeWithRedis("app.close() with an event running that uses an app provider closed in that provider's onModuleDestroy", () => {
  let redis: RedisTestServer | undefined;
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    Gate.release();
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
    await redis?.destroy();
    redis = undefined;
  });

  const layouts: Array<[string, () => Parameters<typeof startApp>[0]]> = [
    ['in the root module', () => ({ imports: [ReflexBridgeModule.forRoot({})], providers: [VisitCounter, VisitsState] })],
    ['two modules below the root', () => ({ imports: [ReflexBridgeModule.forRoot({}), OuterCounterModule], providers: [VisitsState] })],
    ['in a global module imported after the bridge', () => ({ imports: [ReflexBridgeModule.forRoot({}), globalCounter], providers: [VisitsState] })],
    ['in a global module imported before the bridge', () => ({ imports: [globalCounter, ReflexBridgeModule.forRoot({})], providers: [VisitsState] })],
  ];

  /**
   * How the shutdown begins: `app.close()`, or a signal with `enableShutdownHooks()`. Jest gives a test file its own
   * `process` object, on which Nest's signal listener sits: the signal is emitted there, and Nest's own `process.kill`
   * of the process once it has shut down (to let the signal's default action end it) is caught, not let through.
   */
  async function beginShutdown(running: RunningApp, by: 'close' | 'signal'): Promise<void> {
    if (by === 'close') return running.close();
    const kill = process.kill;
    let ended = false;
    process.kill = ((pid: number, signal?: string | number) => {
      if (pid === process.pid && signal === 'SIGUSR2') return (ended = true);
      return kill.call(process, pid, signal);
    }) as typeof process.kill;
    try {
      expect(process.emit('SIGUSR2', 'SIGUSR2')).toBe(true);
      await until(() => ended, 'the signal shutdown to end');
    } finally {
      process.kill = kill;
    }
  }

  const cases = layouts.flatMap(([where, metadata]) => (['close', 'signal'] as const).map((by) => [where, by, metadata] as const));

  it.each(cases)('the counter %s, shut down by %s: the running event finishes with it before it is closed', async (_, by, metadata) => {
    Gate.reset();
    redis = await RedisTestServer.launch();
    VisitCounter.url = redis.url;
    const running = await startApp(metadata(), (app) => void (by === 'signal' && app.enableShutdownHooks(['SIGUSR2'])));
    apps.push(running);
    const client = await RawSocket.hydrated(running.url, sockets);
    client.send(`${VISITS}.visit`);
    await until(() => Gate.entered, 'the held handler to start');
    const latecomer = await RawSocket.hydrated(running.url, sockets);
    const closed = beginShutdown(running, by);
    apps.splice(0);
    let closeDone = false;
    void closed.then(() => (closeDone = true));
    // Released once the bridge refuses new events (the drain began), or (before) once the app's provider began
    // closing its connection while the event still ran.
    await until(() => {
      if (latecomer.socket.connected) latecomer.send(`${VISITS}.visit`);
      return VisitCounter.closing || closeDone || latecomer.errors.some((error) => error.code === 'server_stopping');
    }, 'the shutdown to begin');
    // Before: the app's provider closed its Redis client first, and the handler failed on it ("The client is closed").
    expect(VisitCounter.closing).toBe(false);
    Gate.release();
    await closed;
    await client.until(() => client.latest(VISITS, 'visits') === 1 || client.errors.length > 0, 20_000, "the held event's answer");
    expect(client.errors).toEqual([]);
    expect(client.latest(VISITS, 'visits')).toBe(1);
    expect(VisitCounter.closing).toBe(true);
  });
});


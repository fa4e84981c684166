import { afterEach, expect, it } from '@jest/globals';
import { Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventHandler, LiveBroadcaster, LiveList, ModelChange, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import { ModuleRef } from '@nestjs/core';
import { createClient } from 'redis';
import type { NextFunction } from 'express';
import { AccountState, createAuthStack, mountHttpAuth } from './fixtures/auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';
import { Gate } from './support/handler-gate.js';

const VISITS = 'reflex___state____state.visits_state';

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


/** The visit counter's reads, and those made after it closed its connection. */
const ROW_READS = { total: 0, afterClose: 0 };
const VISITORS = 'reflex___state____state.visitors_state';
const VISIT_LABEL = 'shutdown.visit';

/** A live list whose rows come from the app's provider (its `liveRow`), as a list's rows come from a repository. */
@State()
class VisitorsState {
  @LiveList(VISIT_LABEL)
  visits: Array<{ id: number; count: number }> = [];

  constructor(private readonly counter: VisitCounter) {}

  async liveRow(change: ModelChange): Promise<{ id: number; count: number }> {
    ROW_READS.total += 1;
    if (VisitCounter.closing) ROW_READS.afterClose += 1;
    return { id: Number(change.pk), count: await this.counter.count() };
  }
}

/**
 * An app provider that publishes a model change from its own `onModuleDestroy`, after the root module's providers
 * closed theirs (as a job finishing at shutdown saves a row, or a change from another worker arrives then), and waits
 * until the subscribed tab's share of it was handled.
 */
@Injectable()
class ShutdownPublisher implements OnModuleDestroy {
  static token = '';
  constructor(
    private readonly live: LiveBroadcaster,
    private readonly modules: ModuleRef,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.live.publish(new ModelChange(VISIT_LABEL, 'created', 7));
    // Delivered (publish waits for its echo); the fan-out runs in a microtask, then in the token's queue.
    await new Promise((resolve) => setImmediate(resolve));
    await this.modules.get(EventPipeline, { strict: false }).whenIdle(ShutdownPublisher.token);
  }
}

/** Below the root module: destroyed after it (the root's VisitCounter is closed by then), before the bridge. */
@Module({ providers: [ShutdownPublisher] })
class PublisherModule {}

describeWithRedis('app.close() with a live change arriving after the app closed what its liveRow uses', () => {
  let redis: RedisTestServer | undefined;
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await redis?.destroy();
    redis = undefined;
  });

  it("does not apply it (its liveRow would read the closed provider): no 'The client is closed' for the tab", async () => {
    redis = await RedisTestServer.launch();
    VisitCounter.url = redis.url;
    ROW_READS.total = 0;
    ROW_READS.afterClose = 0;
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({}), PublisherModule], providers: [VisitCounter, VisitorsState] });
    const tab = await RawSocket.hydrated(running.url, sockets);
    ShutdownPublisher.token = tab.token;
    const live = running.app.get(LiveBroadcaster);
    tab.send(`${VISITORS}.live_subscribe`, {});
    await tab.until(() => live.subscriberCount(VISIT_LABEL) > 0, undefined, 'the live subscription');
    // While the app runs, a change reads its row through the provider.
    await live.publish(new ModelChange(VISIT_LABEL, 'created', 1));
    await tab.until(() => (tab.latest(VISITORS, 'visits') as unknown[] | undefined)?.length === 1, undefined, 'the first row');
    await running.close();
    // Before: the change published during the shutdown ran liveRow on the closed client ("The client is closed",
    // logged as a failed live change); now it is not applied once the drain began.
    expect(ROW_READS).toEqual({ total: 1, afterClose: 0 });
    expect(tab.errors).toEqual([]);
  });
});

/** What the bridge's auth chain did once the app's shutdown hooks began (its session store would be closed by then). */
const AUTH_RUNS = { afterClose: 0, closing: false };

function countAuthRuns(_req: unknown, _res: unknown, next: NextFunction): void {
  if (AUTH_RUNS.closing) AUTH_RUNS.afterClose += 1;
  next();
}

/**
 * An app provider below the root module whose `onModuleDestroy` (after the root's providers closed theirs, before
 * the sockets close) sees a user log out in another tab, over HTTP, and waits until the tab's share of it was handled.
 */
@Injectable()
class ShutdownLogout implements OnModuleDestroy {
  static url = '';
  static cookie = '';
  static token = '';
  constructor(private readonly modules: ModuleRef) {}

  async onModuleDestroy(): Promise<void> {
    AUTH_RUNS.closing = true;
    const loggedOut = await fetch(`${ShutdownLogout.url}/logout`, { method: 'POST', headers: { cookie: ShutdownLogout.cookie } });
    expect(loggedOut.status).toBe(200);
    // The session's end is heard as the store destroys it; its tabs' re-authentication runs in their token's queue.
    await new Promise((resolve) => setImmediate(resolve));
    await this.modules.get(EventPipeline, { strict: false }).whenIdle(ShutdownLogout.token);
  }
}

@Module({ providers: [ShutdownLogout] })
class LogoutModule {}

describe('app.close() with a session ending after the app closed its session store', () => {
  const sockets: RawSocket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  it("does not re-authenticate the session's tabs (the auth chain would read the closed store)", async () => {
    AUTH_RUNS.afterClose = 0;
    AUTH_RUNS.closing = false;
    const stack = createAuthStack();
    const running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: [countAuthRuns, ...stack.authMiddleware] } }), LogoutModule], providers: [AccountState] },
      (nest) => mountHttpAuth(nest, stack),
    );
    const login = await fetch(`${running.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const tab = new RawSocket(running.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send('reflex___state____state.account_state.whoami');
    await tab.untilVar('reflex___state____state.account_state', 'isAuthenticated', true);
    ShutdownLogout.url = running.url;
    ShutdownLogout.cookie = cookie;
    ShutdownLogout.token = tab.token;
    await running.close();
    // Before: the tab was re-authenticated after the app's providers closed (its session store, its user lookup).
    expect(AUTH_RUNS.afterClose).toBe(0);
  });
});

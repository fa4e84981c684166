import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module, UseGuards, UseInterceptors, UsePipes, type CallHandler, type CanActivate, type ExecutionContext, type INestApplicationContext, type NestInterceptor, type PipeTransform } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Ack, MessageBody, SubscribeMessage, WebSocketGateway, WsException, type OnGatewayDisconnect, type WsResponse } from '@nestjs/websockets';
import { finalize, interval, map, type Observable } from 'rxjs';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import { BridgeIoAdapter, EventGateway, InMemoryStateStore, ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { Clock, CounterState } from './fixtures/counter.states.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer, type TestRedisClient } from './support/redis-server.js';

const COUNTER = 'reflex___state____state.counter_state';

/** An app's own adapter, as a Nest developer writes one: it records the servers it creates. */
class RecordingIoAdapter extends IoAdapter {
  readonly created: Array<Partial<ServerOptions> | undefined> = [];
  override createIOServer(port: number, options?: ServerOptions): Server {
    this.created.push(options);
    return super.createIOServer(port, options);
  }
}

/** Nest's documented Redis adapter recipe ("Adapters" chapter of the WebSockets docs), as an app writes it. */
class RedisIoAdapter extends IoAdapter {
  private adapterConstructor?: ReturnType<typeof createAdapter>;
  private readonly clients: Array<TestRedisClient> = [];

  constructor(app: INestApplicationContext, private readonly url: string) {
    super(app);
  }

  async connectToRedis(): Promise<void> {
    const pubClient = createClient({ url: this.url });
    const subClient = pubClient.duplicate();
    await Promise.all([pubClient.connect(), subClient.connect()]);
    this.clients.push(pubClient, subClient);
    this.adapterConstructor = createAdapter(pubClient, subClient);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, options);
    server.adapter(this.adapterConstructor!);
    return server;
  }

  override async dispose(): Promise<void> {
    await Promise.all(this.clients.map((client) => (client.isOpen ? client.quit() : undefined)));
  }
}

/** Refuses messages whose body asks for it: Nest answers with an `exception` event. */
@Injectable()
class RefusingGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return (context.switchToWs().getData() as { refuse?: boolean } | undefined)?.refuse !== true;
  }
}

@Injectable()
class MarkingInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((value: unknown) => ({ ...(value as object), intercepted: true })));
  }
}

class DoublingPipe implements PipeTransform {
  transform(value: unknown): unknown {
    const body = value as { n?: unknown };
    return typeof body?.n === 'number' ? { ...body, n: body.n * 2 } : value;
  }
}

/** An app's own gateway next to the bridge's, using the Nest features a gateway relies on. */
@WebSocketGateway({ namespace: 'app', transports: ['websocket'] })
@UseGuards(RefusingGuard)
class AppGateway implements OnGatewayDisconnect {
  readonly left: string[] = [];
  streamsEnded = 0;

  @SubscribeMessage('double')
  @UsePipes(DoublingPipe)
  @UseInterceptors(MarkingInterceptor)
  double(@MessageBody() body: { n: number }): { n: number } {
    return { n: body.n };
  }

  @SubscribeMessage('echo')
  echo(@MessageBody() body: unknown): WsResponse<unknown> {
    return { event: 'echoed', data: body };
  }

  @SubscribeMessage('later')
  async later(@MessageBody() body: { n: number }): Promise<number> {
    await new Promise((resolve) => setImmediate(resolve));
    return body.n + 1;
  }

  @SubscribeMessage('ticks')
  ticks(): Observable<WsResponse<number>> {
    return interval(5).pipe(
      map((i) => ({ event: 'tick', data: i })),
      finalize(() => this.streamsEnded++),
    );
  }

  @SubscribeMessage('manual')
  manual(@MessageBody() body: string, @Ack() ack: (value: string) => void): string {
    ack(`by hand: ${body}`);
    return 'not sent';
  }

  @SubscribeMessage('fail')
  fail(): never {
    throw new WsException('no way');
  }

  handleDisconnect(client: { id: string }): void {
    this.left.push(client.id);
  }
}

/** Waits until `predicate` holds (a generous deadline: CI machines are busy). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The adapter behind the app's `/_event` namespace. */
const adapterOf = (running: RunningApp) => running.app.get(EventGateway).server!.adapter as unknown as { constructor: { name: string }; channel?: string };

describe('the /_event gateway on @nestjs/websockets', () => {
  const sockets: RawSocket[] = [];
  const apps: RunningApp[] = [];
  const open = async (running: RunningApp, path = '/_event') => {
    const socket = new RawSocket(running.url, undefined, { path });
    sockets.push(socket);
    await socket.connected();
    return socket;
  };
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
  });

  it("is created by the app's own IoAdapter subclass, with the module's options", async () => {
    let adapter: RecordingIoAdapter | undefined;
    const running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ pingIntervalMs: 12_345, maxMessageBytes: 50_000 })], providers: [Clock, CounterState] },
      (app) => {
        app.useWebSocketAdapter((adapter = new RecordingIoAdapter(app)));
      },
    );
    apps.push(running);
    expect(adapter!.created).toEqual([expect.objectContaining({ path: '/_event', pingInterval: 12_345, maxHttpBufferSize: 100_000, transports: ['websocket'] })]);
    const client = await open(running);
    await client.hydrate();
    client.send(`${COUNTER}.increment`);
    await client.untilVar(COUNTER, 'count', 1);
  });

  it.each([
    ['IoAdapter', (app: INestApplicationContext) => new IoAdapter(app)],
    ['BridgeIoAdapter', (app: INestApplicationContext) => new BridgeIoAdapter(app)],
  ])("with Nest's %s, the bridge and an app's own gateway (guards, pipes, interceptors, filters, acks, streams, disconnect hooks) work", async (_name, adapterFor) => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [Clock, CounterState, AppGateway] }, (app) => {
      app.useWebSocketAdapter(adapterFor(app));
    });
    apps.push(running);
    const bridgeClient = await open(running);
    await bridgeClient.hydrate();
    bridgeClient.send(`${COUNTER}.increment`);
    await bridgeClient.untilVar(COUNTER, 'count', 1);

    const client: ClientSocket = io(`${running.url}/app`, { transports: ['websocket'], forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('connect_error', reject));
      expect(await client.timeout(20_000).emitWithAck('double', { n: 2 })).toEqual({ n: 4, intercepted: true });
      expect(await client.timeout(20_000).emitWithAck('later', { n: 41 })).toBe(42);
      expect(await client.timeout(20_000).emitWithAck('manual', 'hi')).toBe('by hand: hi');
      const echoed = new Promise((resolve) => client.once('echoed', resolve));
      client.emit('echo', { x: 1 });
      expect(await echoed).toEqual({ x: 1 });
      const exceptions: unknown[] = [];
      client.on('exception', (error: unknown) => exceptions.push(error));
      client.emit('fail');
      client.emit('double', { n: 1, refuse: true });
      await until(() => exceptions.length === 2, 'two exceptions');
      // In either order: the guard's refusal settles asynchronously. A message without a body has no data.
      expect(exceptions).toHaveLength(2);
      expect(exceptions).toEqual(
        expect.arrayContaining([
          { status: 'error', message: 'no way', cause: { pattern: 'fail' } },
          { status: 'error', message: 'Forbidden resource', cause: { pattern: 'double', data: { n: 1, refuse: true } } },
        ]),
      );
      // A failed message does not silence the next ones.
      expect(await client.timeout(20_000).emitWithAck('double', { n: 5 })).toEqual({ n: 10, intercepted: true });
      const ticks: number[] = [];
      client.on('tick', (i: number) => ticks.push(i));
      client.emit('ticks');
      await until(() => ticks.length >= 3, 'three ticks');
      const gateway = running.app.get(AppGateway);
      const id = client.id;
      client.disconnect();
      // The disconnect hook runs, and the stream the socket started ends with it.
      await until(() => gateway.left.includes(id!) && gateway.streamsEnded === 1, 'the disconnect hook and the end of the stream');
    } finally {
      client.disconnect();
    }
    // The bridge's own socket was not disturbed.
    bridgeClient.send(`${COUNTER}.increment`);
    await bridgeClient.untilVar(COUNTER, 'count', 2);
  });

  it('takes its path, namespace and timings from forRootAsync options resolved at runtime', async () => {
    let adapter: RecordingIoAdapter | undefined;
    const running = await startApp(
      {
        imports: [ReflexBridgeModule.forRootAsync({ useFactory: async () => ({ path: '/_live', pingTimeoutMs: 7_000 }) })],
        providers: [Clock, CounterState],
      },
      (app) => {
        app.useWebSocketAdapter((adapter = new RecordingIoAdapter(app)));
      },
    );
    apps.push(running);
    expect(adapter!.created).toEqual([expect.objectContaining({ path: '/_live', pingTimeout: 7_000 })]);
    expect(running.app.get(EventGateway).server!.name).toBe('/_live');
    const client = await open(running, '/_live');
    await client.hydrate();
    expect(client.latest(COUNTER, 'count')).toBe(0);
  });

  it('refuses at startup, naming the cause, a module imported twice on one path (before: it started, and no event was ever answered)', async () => {
    @Module({ imports: [ReflexBridgeModule.forRoot({})] })
    class FeatureModule {}
    const started = startApp({ imports: [ReflexBridgeModule.forRoot({}), FeatureModule], providers: [Clock, CounterState] });
    await expect(started.then((running) => apps.push(running))).rejects.toThrow('ReflexBridgeModule is imported twice on the socket path "/_event"');
  });

  it('gives two apps in one process their own gateway options', async () => {
    const [first, second] = await Promise.all([
      startApp({ imports: [ReflexBridgeModule.forRoot({ path: '/_one' })], providers: [Clock, CounterState] }),
      startApp({ imports: [ReflexBridgeModule.forRootAsync({ useFactory: () => ({ path: '/_two' }) })], providers: [Clock, CounterState] }),
    ]);
    apps.push(first, second);
    expect(first.app.get(EventGateway).server!.name).toBe('/_one');
    expect(second.app.get(EventGateway).server!.name).toBe('/_two');
    await (await open(first, '/_one')).hydrate();
    await (await open(second, '/_two')).hydrate();
  });
});

describeWithRedis('the /_event gateway with a cluster adapter', () => {
  let redis: RedisTestServer;
  const sockets: RawSocket[] = [];
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
  });
  afterAll(async () => {
    await redis.destroy();
  });

  const withRedisRecipe = async (options: Parameters<typeof ReflexBridgeModule.forRoot>[0]) => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [Clock, CounterState] }, async (app) => {
      const adapter = new RedisIoAdapter(app, redis.url);
      await adapter.connectToRedis();
      app.useWebSocketAdapter(adapter);
    });
    apps.push(running);
    return running;
  };

  it("with Nest's Redis adapter recipe, a change made on app B reaches a client connected to app A", async () => {
    // One state store for both apps (in memory, shared in this process): the apps' only link is the app's adapter.
    const stateStore = new InMemoryStateStore();
    const a = await withRedisRecipe({ stateStore });
    const b = await withRedisRecipe({ stateStore });
    expect(adapterOf(a).constructor.name).toBe('RedisAdapter');
    const client = new RawSocket(a.url);
    sockets.push(client);
    await client.connected();
    await client.hydrate();
    expect(b.app.get(ReflexStateService).isConnected(client.token)).toBe(false);
    await b.app.get(ReflexStateService).modify(client.token, CounterState, (counter) => {
      counter.count = 41;
    });
    await client.untilVar(COUNTER, 'count', 41);
  });

  it('with only redisUrl installs its own Redis adapter; an adapter the app installs wins', async () => {
    const own = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [Clock, CounterState] });
    apps.push(own);
    expect(adapterOf(own).constructor.name).toBe('RedisAdapter');
    expect(adapterOf(own).channel).toMatch(/^rx:io#/);
    const theirs = await withRedisRecipe({ redisUrl: redis.url });
    expect(adapterOf(theirs).constructor.name).toBe('RedisAdapter');
    // The recipe's adapter uses socket.io's default key, not the module's.
    expect(adapterOf(theirs).channel).toMatch(/^socket\.io#/);
    const client = new RawSocket(theirs.url);
    sockets.push(client);
    await client.connected();
    await client.hydrate();
    await theirs.app.get(ReflexStateService).modify(client.token, CounterState, (counter) => {
      counter.count = 8;
    });
    await client.untilVar(COUNTER, 'count', 8);
  });
});

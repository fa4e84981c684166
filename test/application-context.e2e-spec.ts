import { afterEach, expect, it } from '@jest/globals';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventHandler, ReflexBridgeModule, ReflexStateService, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const TALLY = 'reflex___state____state.tally_state';

@State()
class TallyState {
  count = 0;

  @EventHandler()
  bump(): void {
    this.count += 1;
  }
}

describeWithRedis('an application context (a worker with no HTTP server) sharing Redis with the web workers', () => {
  let redis: RedisTestServer | undefined;
  const sockets: RawSocket[] = [];
  const apps: Array<RunningApp | INestApplicationContext> = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const app of apps.splice(0)) await app.close();
    await redis?.destroy();
    redis = undefined;
  });

  it("changes a tab's state with ReflexStateService.modify, and the tab on a web worker shows the change", async () => {
    redis = await RedisTestServer.launch();
    const web = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [TallyState] });
    apps.push(web);
    const tab = await RawSocket.hydrated(web.url, sockets);
    @Module({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [TallyState] })
    class JobsWorkerModule {}
    const logger = new CapturingLogger();
    const worker = await NestFactory.createApplicationContext(JobsWorkerModule, { logger });
    apps.push(worker);
    await worker.get(ReflexStateService).modify(tab.token, TallyState, (tally) => {
      tally.count = 5;
    });
    // Before: saved in Redis, but the worker has no Socket.IO server to broadcast the delta on: the tab kept 0.
    await tab.untilVar(TALLY, 'count', 5);
    expect(await web.app.get(ReflexStateService).read(tab.token, TallyState)).toEqual({ count: 5 });
    expect(tab.errors).toEqual([]);
    expect(logger.lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });
});

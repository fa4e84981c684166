// Server process of the ext benchmarks (forked by ext-server.ts; never imported). Same RPC as
// server/server-main.ts (start, cpuMark, cpuRead, ...) plus `publish` (live-latency), for bench apps the
// harness's own server cannot configure: sessions and event cache in Redis, the lean preset, the Redis state
// store, live transports.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { LiveBroadcaster, ModelChange, RedisTransport, ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { serveRpc } from '../harness/rpc.js';
import type { ServerCpu, ServerStarted } from '../harness/types.js';
import { createAuthStack, mountHttpAuth } from '../server/auth-stack.js';
import { fastAuthModuleOptions } from '../server/fast-auth.js';
import { BENCH_CONNECTIONS_PER_ADDRESS, BENCH_RATE_LIMIT } from '../server/bench-rate-limit.js';
import { CpuProfiler } from '../server/cpu-profiler.js';
import { AllocationSampler } from '../server/allocation-sampler.js';
import { CpuWindow } from '../server/cpu-window.js';
import { LiveFeedState, LIVE_LABEL, SessionBenchState, StoreBenchState } from './ext-states.js';
import type { ExtServerConfig } from './ext-types.js';

@Module({})
class ExtBenchModule {}

let close: (() => Promise<void>) | undefined;
let sessionCalls: () => number = () => 0;
const cpuWindow = new CpuWindow(() => sessionCalls());
let live: LiveBroadcaster | undefined;
let seq = 0;
const profiler = new CpuProfiler();
const allocations = new AllocationSampler();

async function start(config: ExtServerConfig): Promise<ServerStarted> {
  const cleanups: (() => Promise<unknown>)[] = [];
  let options: ReflexBridgeModuleOptions;
  let providers: unknown[];
  let stack: ReturnType<typeof createAuthStack> | undefined;
  if (config.kind === 'session') {
    const client = createClient({ url: config.redisUrl });
    await client.connect();
    cleanups.push(() => client.quit());
    stack = createAuthStack(new RedisStore({ client, prefix: 'sess:' }));
    const auth = stack;
    options = {
      ...(config.fastAuth ? fastAuthModuleOptions(auth) : {}),
      ...(config.preset ? { preset: config.preset } : {}),
      eventCache: { redisUrl: config.redisUrl },
      bridge: { mode: 'full', authMiddleware: auth.authMiddleware },
    };
    providers = [SessionBenchState];
  } else if (config.kind === 'store') {
    options = {
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      ...(config.redisCluster ? { redisCluster: { rootNodes: config.redisCluster } } : {}),
      bridge: { mode: 'none' },
    };
    providers = [StoreBenchState];
  } else {
    options = { ...(config.redisUrl ? { live: { transport: new RedisTransport({ url: config.redisUrl }) } } : {}) };
    providers = [LiveFeedState];
  }
  // Budget per connection on but never refusing (see BENCH_RATE_LIMIT).
  options.rateLimit = BENCH_RATE_LIMIT;
  options.maxConnectionsPerAddress = BENCH_CONNECTIONS_PER_ADDRESS;
  const app = await NestFactory.create(
    { module: ExtBenchModule, imports: [ReflexBridgeModule.forRoot(options)], providers: providers as never[] },
    { logger: ['error', 'warn'] },
  );
  if (stack) mountHttpAuth(app, stack);
  await app.listen(0, '127.0.0.1');
  if (config.kind === 'live') live = app.get(LiveBroadcaster);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const auth = stack;
  sessionCalls = () => auth?.calls.session ?? 0;
  close = async () => {
    await app.close();
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  };
  return { url: `http://127.0.0.1:${port}` };
}

serveRpc(
  {
    start: (config: ExtServerConfig) => start(config),
    cpuMark: () => cpuWindow.mark(),
    cpuRead: (): ServerCpu => cpuWindow.read(),
    // `--profile`: the same CPU profile of each measured window as the harness's own server records.
    profileStart: () => profiler.start(),
    profileStop: (path: string) => profiler.stop(path),
    // `--allocations`: the bytes allocated over each measured window, sampled.
    allocationStart: () => allocations.start(),
    allocationStop: (path: string) => allocations.stop(path),
    subscribers: () => live?.subscriberCount(LIVE_LABEL) ?? 0,
    /** Publishes one change whose row carries the publish time (ms since the epoch, sub-ms precision). */
    publish: async () => {
      if (!live) throw new Error('publish: not a live server');
      const id = ++seq;
      const t = performance.timeOrigin + performance.now();
      // A new row per change: `created` inserts it into every subscriber's list.
      await live.publish(new ModelChange(LIVE_LABEL, 'created', id, { id, t }));
      return id;
    },
  },
  async () => {
    await close?.();
  },
);

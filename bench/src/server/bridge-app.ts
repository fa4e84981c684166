import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import * as library from '@reflex-bridge/nest';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import type { BridgeServerConfig } from '../harness/types.js';
import { createAuthStack, mountHttpAuth, type AuthStack } from './auth-stack.js';
import { LoggedInGuard, SUITES } from './bench-states.js';
import { FAST_AUTH_UNAVAILABLE, fastAuthModuleOptions } from './fast-auth.js';
import { BENCH_CONNECTIONS_PER_ADDRESS, BENCH_NEW_STATES, BENCH_NEW_TABS, BENCH_RATE_LIMIT } from './bench-rate-limit.js';

@Module({})
class BenchAppModule {}

/** A running bench app. */
export interface BridgeServer {
  url: string;
  /** Session middleware runs so far (0 without an auth stack). */
  sessionCalls(): number;
  close(): Promise<void>;
}

/**
 * The bench app: a Nest app (Express platform) importing `ReflexBridgeModule.forRoot` with the suite's states,
 * and, with `auth`, the app's session + passport stack on HTTP and as the bridge's `authMiddleware`, exactly
 * as the e2e fixtures and the shop wire it. Everything else is the library's defaults.
 */
export async function startBridgeServer(config: BridgeServerConfig): Promise<BridgeServer | { unavailable: string }> {
  const stack: AuthStack | undefined = config.auth ? createAuthStack() : undefined;
  let extra: Partial<ReflexBridgeModuleOptions> = {};
  if (config.fastAuth) {
    const options = stack ? fastAuthModuleOptions(stack) : null;
    if (!options) return { unavailable: FAST_AUTH_UNAVAILABLE };
    extra = options;
  }
  const options: ReflexBridgeModuleOptions = {
    ...extra,
    rateLimit: config.connectionBudget ? { perConnection: { limit: config.connectionBudget, ttlMs: 10_000 }, newStates: BENCH_NEW_STATES, newTabs: BENCH_NEW_TABS } : BENCH_RATE_LIMIT,
    maxConnectionsPerAddress: BENCH_CONNECTIONS_PER_ADDRESS,
    // Library defaults; BENCH_ASYNC_CONTEXT=1 measures the module with `bridge.asyncContext: true` (see docs/performance.md).
    bridge: {
      mode: config.mode,
      ...(process.env.BENCH_ASYNC_CONTEXT === '1' ? { asyncContext: true } : {}),
      ...(stack ? { authMiddleware: stack.authMiddleware } : {}),
    },
  };
  const app = await NestFactory.create(
    { module: BenchAppModule, imports: [ReflexBridgeModule.forRoot(options)], providers: [...SUITES[config.suite], LoggedInGuard] },
    { logger: ['error', 'warn'] },
  );
  if (stack) mountHttpAuth(app, stack);
  // As the docs recommend and the shop does: Nest's Socket.IO adapter without its RxJS pipelines per socket.
  // BENCH_NEST_IO_ADAPTER=1 keeps Nest's default `IoAdapter` instead, to measure what it costs; so does a library
  // from before the adapter existed (`--lib`), read through the namespace so that importing it still works.
  const { BridgeIoAdapter } = library as Partial<typeof library>;
  if (BridgeIoAdapter && process.env.BENCH_NEST_IO_ADAPTER !== '1') app.useWebSocketAdapter(new BridgeIoAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, sessionCalls: () => stack?.calls.session ?? 0, close: () => app.close() };
}


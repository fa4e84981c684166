import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { createAuthStack, mountHttpAuth } from '../server/auth-stack.js';
import { HandWrittenGateway } from './hand-written.gateway.js';
import { AUTH_STACK, SessionGuard } from './session.guard.js';

@Module({})
class HandWrittenGatewayModule {}

/** A running hand-written gateway app. */
export interface NestGatewayServer {
  url: string;
  /** Session middleware runs so far (HTTP logins and events). */
  sessionCalls(): number;
  close(): Promise<void>;
}

/**
 * The hand-written gateway peer: a Nest app (Express platform, Nest's default Socket.IO adapter) with the bench
 * app's auth stack on HTTP (`POST /login`: express-session with its MemoryStore + passport-local, the same
 * cookie and secret as the bridge's bench app) and {@link HandWrittenGateway} on `/_event`.
 */
export async function startNestGatewayServer(): Promise<NestGatewayServer> {
  const stack = createAuthStack();
  const app = await NestFactory.create(
    { module: HandWrittenGatewayModule, providers: [{ provide: AUTH_STACK, useValue: stack }, SessionGuard, HandWrittenGateway] },
    { logger: ['error', 'warn'] },
  );
  mountHttpAuth(app, stack);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, sessionCalls: () => stack.calls.session, close: () => app.close() };
}

import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Module({})
class EmptyAppModule {}

/**
 * An empty Nest app on Express, listening on a free loopback port and serving nothing: what any Nest app's process
 * holds before a module of its own is added (see `EchoServerConfig.besideApp`).
 */
export async function startEmptyNestApp(): Promise<{ close(): Promise<void> }> {
  const app = await NestFactory.create(EmptyAppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { close: () => app.close() };
}

import type { DynamicModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { StateRegistry } from '../state/state-registry.service.js';
import { generateStateTypes, type StateTypesOptions } from './state-types.generator.js';

/**
 * Boots the app's module as an application context (no HTTP server, nothing listens), reads its state registry,
 * closes it again, and returns the generated TypeScript module (see {@link generateStateTypes}).
 */
export async function generateStateTypesFor(module: Type | DynamicModule, options: StateTypesOptions = {}): Promise<string> {
  const app = await NestFactory.createApplicationContext(module, { logger: ['error', 'warn'], abortOnError: false });
  try {
    const registry = app.get(StateRegistry, { strict: false });
    return generateStateTypes(registry.states(), options);
  } finally {
    await app.close();
  }
}

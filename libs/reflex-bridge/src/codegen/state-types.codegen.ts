import type { DynamicModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { StateRegistry } from '../state/state-registry.service.js';
import { declarationFiles, readDeclaredTypes } from './declared-type.reader.js';
import { generateStateTypes, type StateTypesOptions } from './state-types.generator.js';

/** Options of {@link generateStateTypesFor}. */
export interface StateTypesForOptions extends Omit<StateTypesOptions, 'declared'> {
  /**
   * A folder of the app's declaration files (its build's `.d.ts`): the vars' declared types are read from there.
   * Unset: types come from the initial values only.
   */
  declarationsDir?: string;
  /** Files to read the declared types from instead (declarations or sources), e.g. the app's `src/**\/*.ts`. */
  typeFiles?: string[];
  /** Module name mappings for {@link typeFiles}, as a tsconfig's `paths` (absolute targets). */
  typePaths?: Record<string, string[]>;
  /**
   * Told why the declared types could not be read (the `typescript` package missing, or TypeScript 7's, which has no
   * compiler API): the types then come from the initial values.
   */
  onTypesUnread?: (reason: string) => void;
}

/**
 * Boots the app's module as an application context (no HTTP server, nothing listens), reads its state registry,
 * closes it again, and returns the generated TypeScript module (see {@link generateStateTypes}).
 */
export async function generateStateTypesFor(module: Type | DynamicModule, options: StateTypesForOptions = {}): Promise<string> {
  const app = await NestFactory.createApplicationContext(module, { logger: ['error', 'warn'], abortOnError: false });
  try {
    const registry = app.get(StateRegistry, { strict: false });
    const states = registry.states();
    const { declarationsDir, typeFiles, typePaths, onTypesUnread, ...rest } = options;
    const files = typeFiles ?? (declarationsDir ? await declarationFiles(declarationsDir) : undefined);
    const declared = files ? await readDeclaredTypes(files, states.map((state) => state.cls.name), typePaths, onTypesUnread) : undefined;
    return generateStateTypes(states, { ...rest, declared });
  } finally {
    await app.close();
  }
}

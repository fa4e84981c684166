import type { DynamicModule, Type } from '@nestjs/common';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

/** What an app file may export for codegen: a module class, a dynamic module, or a function returning one. */
export type AppModuleExport = Type | DynamicModule | (() => Type | DynamicModule | Promise<Type | DynamicModule>);

function isModuleClass(value: unknown): value is Type {
  return typeof value === 'function' && ['imports', 'providers', 'controllers', 'exports'].some((key) => Reflect.hasMetadata(key, value));
}

/** A TypeScript source rather than built JavaScript. */
const TYPESCRIPT_FILE = /\.[cm]?tsx?$/;

/**
 * How Node refuses a TypeScript source: Node 20 by its extension; Node 22.18 and later load it with the types
 * stripped, and stop at what stripping cannot run (a decorator is a `SyntaxError` there, a parameter property
 * `ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX`).
 */
function isTypeScriptRefused(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX' || code === 'ERR_INVALID_TYPESCRIPT_SYNTAX' || error instanceof SyntaxError;
}

/** What the command says about a TypeScript source it cannot use. */
function builtJavaScriptNeeded(file: string, cause?: unknown): Error {
  return new Error(`${file} is TypeScript, which Node cannot load here: pass the built JavaScript file (for example dist/app.module.js).`, { cause });
}

function isDynamicModule(value: unknown): value is DynamicModule {
  return typeof value === 'object' && value !== null && typeof (value as DynamicModule).module === 'function';
}

/**
 * Imports the app's built module file and returns the Nest module to boot: the named export, else the default
 * export, else the file's only module export. A function export (not a module class) is called, so an app whose
 * root module needs configuration (`ShopModule.forRoot(config)`) exports `() => ShopModule.forRoot(defaults)`.
 */
export async function loadAppModule(file: string, exportName?: string): Promise<Type | DynamicModule> {
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    // Run under a TypeScript loader (tsx), a source loads; plain Node stops at it with no hint.
    if (TYPESCRIPT_FILE.test(file) && isTypeScriptRefused(error)) throw builtJavaScriptNeeded(file, error);
    throw error;
  }
  let candidate: unknown;
  if (exportName) {
    if (!(exportName in exports)) throw new Error(`${file} has no export named "${exportName}".`);
    candidate = exports[exportName];
  } else if (exports['default'] !== undefined) {
    candidate = exports['default'];
  } else {
    const modules = Object.entries(exports).filter(([, value]) => isModuleClass(value) || isDynamicModule(value));
    // Node 22.18+ loads a source without decorators (stripping types): its classes carry no @Module() metadata.
    if (modules.length === 0 && TYPESCRIPT_FILE.test(file)) throw builtJavaScriptNeeded(file);
    if (modules.length !== 1) {
      throw new Error(`${file}: found ${modules.length} module exports (${modules.map(([key]) => key).join(', ') || 'none'}); name one with --export.`);
    }
    candidate = modules[0]![1];
  }
  if (typeof candidate === 'function' && !isModuleClass(candidate)) {
    // A class (a service, a module missing @Module()) cannot be called: say what it is instead of Node's TypeError.
    if (/^class[\s{]/.test(Function.prototype.toString.call(candidate))) {
      throw new Error(`${file}: the export ${(candidate as Type).name || '(anonymous)'} is a class but not a Nest module (no @Module()); export the app's root module.`);
    }
    candidate = await (candidate as () => unknown)();
  }
  if (isModuleClass(candidate) || isDynamicModule(candidate)) return candidate;
  throw new Error(`${file}: the export is not a Nest module, a dynamic module, or a function returning one.`);
}

import type { DynamicModule, Type } from '@nestjs/common';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

/** What an app file may export for codegen: a module class, a dynamic module, or a function returning one. */
export type AppModuleExport = Type | DynamicModule | (() => Type | DynamicModule | Promise<Type | DynamicModule>);

function isModuleClass(value: unknown): value is Type {
  return typeof value === 'function' && ['imports', 'providers', 'controllers', 'exports'].some((key) => Reflect.hasMetadata(key, value));
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
  const exports = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  let candidate: unknown;
  if (exportName) {
    if (!(exportName in exports)) throw new Error(`${file} has no export named "${exportName}".`);
    candidate = exports[exportName];
  } else if (exports['default'] !== undefined) {
    candidate = exports['default'];
  } else {
    const modules = Object.entries(exports).filter(([, value]) => isModuleClass(value) || isDynamicModule(value));
    if (modules.length !== 1) {
      throw new Error(`${file}: found ${modules.length} module exports (${modules.map(([key]) => key).join(', ') || 'none'}); name one with --export.`);
    }
    candidate = modules[0]![1];
  }
  if (typeof candidate === 'function' && !isModuleClass(candidate)) candidate = await (candidate as () => unknown)();
  if (isModuleClass(candidate) || isDynamicModule(candidate)) return candidate;
  throw new Error(`${file}: the export is not a Nest module, a dynamic module, or a function returning one.`);
}

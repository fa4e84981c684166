import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The library's layers, bottom to top: a file may import from its own layer and the ones below, never from one
 * above (a cycle in the making, and a map a newcomer cannot read). The module options and their definition are
 * read by every layer.
 */
const LAYERS: Record<string, number> = {
  protocol: 0,
  common: 0,
  state: 1,
  cache: 2,
  security: 2,
  live: 2,
  metrics: 2,
  bridge: 2,
  pipeline: 3,
  health: 3,
  gateway: 4,
  upload: 4,
  devtools: 4,
  audit: 4,
  spa: 4,
  '.': 5,
  codegen: 6,
};
const READ_BY_EVERY_LAYER = new Set(['reflex-bridge.options.ts', 'reflex-bridge.module-definition.ts', 'invalid-option.error.ts']);

const root = dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

function layerOf(file: string): number {
  const rel = relative(root, file);
  if (READ_BY_EVERY_LAYER.has(rel)) return -1;
  const top = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '.';
  const layer = LAYERS[top];
  if (layer === undefined) throw new Error(`${rel}: folder "${top}" has no layer: add it to LAYERS`);
  return layer;
}

describe('the library layers', () => {
  it('never import from a layer above their own', () => {
    const upward: string[] = [];
    for (const file of sources(root)) {
      const from = layerOf(file);
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?from '(\.{1,2}\/[^']+)'/gms)) {
        const target = resolve(dirname(file), specifier!.replace(/\.js$/, '.ts'));
        const to = layerOf(target);
        if (from !== -1 && to > from) upward.push(`${relative(root, file)} -> ${relative(root, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });
});

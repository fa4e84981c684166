import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The packages the client's shipped code imports at run time (type-only imports are erased; specs are not shipped). */
function runtimeImports(): string[] {
  const specifiers = new Set<string>();
  for (const file of readdirSync(here).filter((name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))) {
    for (const [, specifier] of readFileSync(join(here, file), 'utf8').matchAll(/^import (?!type )[^'"]*from '([^'.][^']*)'/gm)) {
      if (!specifier!.startsWith('node:')) specifiers.add(specifier!);
    }
  }
  return [...specifiers].sort();
}

describe("the client README's browser import map", () => {
  it('maps every package the client imports, so a browser can load it', () => {
    const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(readme);
    expect(map).not.toBeNull();
    const mapped = Object.keys((JSON.parse(map![1]!) as { imports: Record<string, string> }).imports);
    const imported = runtimeImports();
    expect(imported).toContain('socket.io-client');
    expect(imported.filter((specifier) => !mapped.includes(specifier))).toEqual([]);
  });
});

import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * The documentation block of the statement that declares `name`: the last `/** … *\/` before the statement, when
 * only decorators lie between the two.
 */
function docOf(source: string, name: string): string | undefined {
  const declared = new RegExp(`^export (?:abstract )?(?:class|function|const)\\s+${name}\\b`, 'm').exec(source);
  // A name bound by a destructuring `export const { ...: NAME }` is declared by the `export` before it.
  const at = declared?.index ?? source.lastIndexOf('export ', source.search(new RegExp(`:\\s*${name}\\b`)));
  if (at < 0) return undefined;
  const before = source.slice(0, at);
  const end = before.lastIndexOf('*/');
  if (end < 0 || /^(?:export |\}\s*$|const |function |class )/m.test(before.slice(end + 2))) return undefined;
  return before.slice(before.lastIndexOf('/**', end), end + 2);
}

describe('the public API (index.ts)', () => {
  it('documents every exported class, function and constant as @publicApi', () => {
    const index = readFileSync(join(root, 'index.ts'), 'utf8');
    const untagged: string[] = [];
    for (const [, names, from] of index.matchAll(/^export \{([^}]*)\} from '(\.\/[^']+)';/gm)) {
      const source = readFileSync(join(root, from!.replace(/\.js$/, '.ts')), 'utf8');
      for (const name of names!.split(',').map((part) => part.trim())) {
        if (!name || name.startsWith('type ')) continue;
        if (!docOf(source, name)?.includes('@publicApi')) untagged.push(`${name} (${from})`);
      }
    }
    expect(untagged).toEqual([]);
  });
});

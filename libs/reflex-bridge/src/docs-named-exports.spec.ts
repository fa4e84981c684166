import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const packages = ['reflex-bridge', 'reflex-client', 'reflex-react'];
/** Pages about the library's inside (its layers, its measurements): they name internal classes on purpose. */
const internalPages = new Set(['architecture.md', 'performance.md', 'performance-investigations.md']);
/** Internal names a user page gives on purpose, with their file and the words "internal to the package". */
const namedAsInternal = new Set(['REFLEX_CLIENT_EVENTS']);

/** Every `.ts` source file (specs left out) under a folder. */
function sources(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
    .map((file) => join(folder, file));
}

describe('the user docs', () => {
  it('name only types and classes a user can import from a package root', () => {
    const declared = new Set<string>();
    for (const name of packages) {
      for (const file of sources(join(repo, 'libs', name, 'src'))) {
        for (const [, symbol] of readFileSync(file, 'utf8').matchAll(/^export (?:abstract )?(?:class|interface|type|function|const|enum) (\w+)/gm)) declared.add(symbol!);
      }
    }
    const exported = packages.map((name) => readFileSync(join(repo, 'libs', name, 'src/index.ts'), 'utf8')).join('\n');
    const pages = [
      ...readdirSync(join(repo, 'docs')).filter((page) => page.endsWith('.md') && !internalPages.has(page)).map((page) => join('docs', page)),
      'README.md',
      ...packages.map((name) => join('libs', name, 'README.md')),
    ];
    const missing: string[] = [];
    for (const page of pages) {
      // A code span that starts with a capitalised name: `SyntheticResponse`, `ReflexClient.upload()`, `StateRef<T>`.
      for (const [, symbol] of readFileSync(join(repo, page), 'utf8').matchAll(/`([A-Z]\w*)(?:[.<(][^`]*)?`/g)) {
        if (declared.has(symbol!) && !namedAsInternal.has(symbol!) && !new RegExp(`\\b${symbol}\\b`).test(exported)) missing.push(`${symbol} (${page})`);
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });
});

import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The pages a user reads: the README, docs/, and each package's README (shipped with it). */
const pages = [
  'README.md',
  ...readdirSync(join(repo, 'docs')).filter((page) => page.endsWith('.md')).map((page) => `docs/${page}`),
  ...['reflex-bridge', 'reflex-client', 'reflex-react'].map((name) => `libs/${name}/README.md`),
];

/** A page's prose: fenced code blocks hold example file names of the reader's own app, not links. */
function prose(page: string): string {
  return readFileSync(join(repo, page), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
}

/** The anchors GitHub gives a page: one per heading (its slug, `-1`, `-2` for repeats), and explicit `id`s. */
function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(page).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const [, id] of readFileSync(join(repo, page), 'utf8').matchAll(/\sid="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** Every file under the repository's own folders, by base name (no node_modules, no build output). */
function filesByName(): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const top of ['libs', 'apps', 'test', 'bench', 'scripts', 'deploy']) {
    for (const file of readdirSync(join(repo, top), { recursive: true, encoding: 'utf8' })) {
      if (/(^|\/)(node_modules|dist)\//.test(file)) continue;
      const name = file.split('/').pop()!;
      byName.set(name, [...(byName.get(name) ?? []), `${top}/${file}`]);
    }
  }
  return byName;
}

describe('the docs', () => {
  it('link only to pages, files and anchors that exist', () => {
    const dead: string[] = [];
    for (const page of pages) {
      for (const [, target] of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue;
        const [path, anchor] = target!.split('#', 2) as [string, string | undefined];
        const file = path === '' ? page : normalize(join(dirname(page), path));
        if (!existsSync(join(repo, file))) dead.push(`${page}: ${target}`);
        else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor)) dead.push(`${page}: ${target}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('cite only spec files that exist', () => {
    const byName = filesByName();
    expect(byName.get('foundation.e2e-spec.ts')).toEqual(['test/foundation.e2e-spec.ts']);
    const missing: string[] = [];
    for (const page of pages) {
      for (const [, cited] of prose(page).matchAll(/([\w./-]+\.(?:e2e-spec|spec)\.tsx?)/g)) {
        // A path may be given from the repository's root or from a package's src/ (`protocol/route-pattern.spec.ts`).
        const found = (byName.get(cited!.split('/').pop()!) ?? []).some((file) => file === cited || file.endsWith(`/${cited}`));
        if (!found) missing.push(`${page}: ${cited}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

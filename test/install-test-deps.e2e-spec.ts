import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Debian packages `scripts/install-test-deps.sh` installs when `TEST_DEBIAN_PACKAGES` is not set, as bash expands them. */
function defaultPackages(): string[] {
  const script = readFileSync(join(repo, 'scripts/install-test-deps.sh'), 'utf8');
  const line = /^DEBIAN_PACKAGES=.*$/m.exec(script);
  expect(line).not.toBeNull();
  const env = { PATH: process.env['PATH'] ?? '' };
  return execFileSync('bash', ['-c', `${line![0]}; printf '%s\\n' $DEBIAN_PACKAGES`], { env, encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** Packages of the lockfile whose install script falls back to node-gyp when no prebuilt binary can be downloaded. */
function nodeGypFallbacks(): string[] {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
    .map(([path]) => path)
    .filter((path) => {
      const manifest = JSON.parse(readFileSync(join(repo, path, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      return /\bprebuild-install\b.*\|\|.*node-gyp/.test(manifest.scripts?.['install'] ?? '');
    });
}

describe('scripts/install-test-deps.sh', () => {
  it("installs what npm ci needs to build a native dependency from source on a fresh Debian (no prebuilt binary reachable)", () => {
    // better-sqlite3 downloads a prebuilt binary from GitHub; without one (no route to GitHub, a Node it has none
    // for) node-gyp builds it, which needs python3, make and a C++ compiler. A fresh Debian has none of them, so
    // `npm ci` failed there ('gyp ERR! find Python', then 'not found: make').
    expect(nodeGypFallbacks()).toContain('node_modules/better-sqlite3');
    expect(defaultPackages()).toEqual(expect.arrayContaining(['python3', 'make', 'g++']));
  });
});

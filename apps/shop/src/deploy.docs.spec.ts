import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** docs/deploy.md, which an operator follows literally. */
const page = (): string => readFileSync(join(repo, 'docs/deploy.md'), 'utf8');

/** The systemd template unit docs/deploy.md gives for option A (the page's one `ini` block), as an operator copies it. */
function documentedUnit(): string {
  const blocks = [...page().matchAll(/^```ini\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

/** `systemctl`, when this machine has it (it runs offline with `--root`, no systemd needed). */
const SYSTEMCTL = ['/usr/bin/systemctl', '/bin/systemctl'].find((path) => existsSync(path));

describe('the systemd unit of docs/deploy.md', () => {
  it('has no comment after a value, which systemd would read as part of the value (an EnvironmentFile path that does not exist)', () => {
    // systemd.syntax(5): only lines starting with `#` or `;` are comments.
    const settings = documentedUnit().split('\n').filter((line) => /^[A-Za-z]+=/.test(line));
    expect(settings.filter((line) => /\s[#;]/.test(line))).toEqual([]);
  });

  it('runs the workers as a user of their own, not as root (a hole in the app or a dependency would own the machine)', () => {
    const user = /^User=(.+)$/m.exec(documentedUnit())?.[1];
    expect(user).toBeDefined();
    expect(user).not.toBe('root');
  });

  it('can be enabled for the workers the page starts with `systemctl enable --now shop@3001 ...`, so they start at boot', () => {
    const unit = documentedUnit();
    expect(unit).toMatch(/^\[Install\]\n(?:.*\n)*?WantedBy=multi-user\.target$/m);
    if (!SYSTEMCTL) return;
    const root = mkdtempSync(join(tmpdir(), 'shop-unit-'));
    try {
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      writeFileSync(join(root, 'etc/systemd/system/shop@.service'), unit);
      execFileSync(SYSTEMCTL, [`--root=${root}`, 'enable', 'shop@3001', 'shop@3002'], { stdio: 'pipe' });
      expect(readdirSync(join(root, 'etc/systemd/system/multi-user.target.wants')).sort()).toEqual(['shop@3001.service', 'shop@3002.service']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('the Node flags docs/deploy.md starts the workers with', () => {
  it('are flags this Node accepts (V8 renames and drops its flags between versions; a dropped one stops the worker at start)', () => {
    const execStart = /^ExecStart=\/usr\/bin\/node (.*) \/srv\/shop\/apps\/shop\/dist\/main\.js$/m.exec(documentedUnit())?.[1];
    expect(execStart).toBeDefined();
    const flags = execStart!.split(' ');
    expect(flags).toEqual(expect.arrayContaining(['--min-semi-space-size=16', '--initial-old-space-size=128']));
    // Every command of the page that starts the shop passes the same flags as the unit.
    const commands = page().match(/^.*\bnode (?:--\S+ )*apps\/shop\/dist\/main\.js.*$/gm) ?? [];
    expect(commands.length).toBeGreaterThan(2);
    for (const command of commands.filter((line) => !line.includes('--min-semi-space-size=16 apps/'))) expect(command).toContain(`node ${flags.join(' ')} apps/shop/dist/main.js`);
    // Node exits with "bad option" on a flag it does not know; with the flags it knows, it runs the script.
    expect(execFileSync(process.execPath, [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().total_heap_size > 0))'], { encoding: 'utf8' })).toBe('true');
  });
});

describe('the build docs/deploy.md ships to the hosts', () => {
  it('includes package-lock.json when it installs the production node_modules with npm ci (npm ci refuses to run without it)', () => {
    const ship = /^Ship `apps\/shop\/dist`[\s\S]*?\n\n/m.exec(page())?.[0] ?? '';
    expect(ship).toContain('npm ci --omit=dev');
    expect(ship).toContain('`package-lock.json`');
  });
});

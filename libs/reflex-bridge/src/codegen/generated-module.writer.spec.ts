import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGeneratedModule } from './generated-module.writer.js';

describe('writeGeneratedModule', () => {
  let dir = '';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reflex-codegen-out-'));
  });

  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses an --out that is the --app file, by any spelling or through a symlink, and leaves the app as it was', async () => {
    const app = join(dir, 'app.js');
    await writeFile(app, 'export default 1;\n');
    await symlink(app, join(dir, 'link.ts'));
    for (const out of [app, join(dir, 'sub', '..', 'app.js'), join(dir, 'link.ts')]) {
      await expect(writeGeneratedModule(out, '// generated\n', [app])).rejects.toThrow(/same file as the input/);
    }
    expect(await readFile(app, 'utf8')).toBe('export default 1;\n');
  });

  it('replaces --out whole: a reader that opened the old module still reads all of it, and no temporary file is left', async () => {
    const out = join(dir, 'states.ts');
    const old = '// old module\n'.repeat(10_000);
    await writeFile(out, old);
    const reader = await open(out, 'r');
    try {
      // Written in place, the file was truncated first: this reader (a watcher, a build mid-compile) read nothing.
      await writeGeneratedModule(out, '// new module\n', [join(dir, 'app.js')]);
      const { buffer, bytesRead } = await reader.read({ buffer: Buffer.alloc(old.length + 1), position: 0 });
      expect(buffer.subarray(0, bytesRead).toString()).toBe(old);
    } finally {
      await reader.close();
    }
    expect(await readFile(out, 'utf8')).toBe('// new module\n');
    expect(await readdir(dir)).toEqual(['states.ts']);
  });

  it('writes through a symlinked --out to its target, and creates missing folders', async () => {
    const target = join(dir, 'real.ts');
    await writeFile(target, 'old');
    await symlink(target, join(dir, 'states.ts'));
    expect(await writeGeneratedModule(join(dir, 'states.ts'), 'new', [])).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('new');
    await writeGeneratedModule(join(dir, 'a', 'b', 'c.ts'), 'deep', []);
    expect(await readFile(join(dir, 'a', 'b', 'c.ts'), 'utf8')).toBe('deep');
  });
});

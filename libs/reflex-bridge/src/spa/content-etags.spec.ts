import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTENT_ETAG_MAX_BYTES, ContentEtags } from './content-etags.js';

describe('ContentEtags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'content-etags-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('changes with the content even when size and mtime stay, and is stable while the file is unchanged', async () => {
    const file = join(dir, 'index.html');
    const epoch = new Date('1980-01-01T00:00:00Z');
    await writeFile(file, 'page-aaaa');
    await utimes(file, epoch, epoch);
    const etags = new ContentEtags();
    const first = etags.of(file, await stat(file));
    expect(first).toMatch(/^"[\w-]+"$/);
    expect(etags.of(file, await stat(file))).toBe(first);
    await writeFile(file, 'page-bbbb');
    await utimes(file, epoch, epoch);
    const second = etags.of(file, await stat(file));
    expect(second).not.toBe(first);
    // The same content gives the same validator (another worker, a restart).
    expect(new ContentEtags().of(file, await stat(file))).toBe(second);
  });

  it('leaves large and unreadable files to serve-static, and keeps a bounded number of entries', async () => {
    const big = join(dir, 'big.bin');
    await writeFile(big, Buffer.alloc(CONTENT_ETAG_MAX_BYTES + 1));
    const etags = new ContentEtags(2);
    expect(etags.of(big, await stat(big))).toBeUndefined();
    expect(etags.of(join(dir, 'gone.html'), { size: 1, ino: 1, mtimeMs: 1, ctimeMs: 1 } as never)).toBeUndefined();
    for (const name of ['a', 'b', 'c']) {
      await writeFile(join(dir, name), name);
      expect(etags.of(join(dir, name), await stat(join(dir, name)))).toBeDefined();
    }
    expect((etags as unknown as { entries: Map<string, unknown> }).entries.size).toBe(2);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
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

  it("hashes each file of a build once, not once per request, when the build has hundreds of files without a hash", async () => {
    // A public/ folder of a few hundred images: cycling through them (HEAD, a few bytes each) made every request read
    // and hash its file again on the event loop (about 2 ms for 1 MiB) once the cache held fewer entries than files.
    const files = Array.from({ length: 1000 }, (_, index) => join(dir, `image-${index}.png`));
    // The version seen by serve-static's stat is what the cache goes by: a fixed one stands for an unchanged file.
    const version = (index: number) => ({ size: 8, ino: 10_000 + index, mtimeMs: 1, ctimeMs: 1 }) as never;
    await Promise.all(files.map((file) => writeFile(file, 'before!!')));
    const etags = new ContentEtags();
    const first = files.map((file, index) => etags.of(file, version(index)));
    // Whatever is on disk now, an unchanged version must come from memory: a new read would give another ETag.
    await Promise.all(files.map((file) => writeFile(file, 'after!!!')));
    const again = files.map((file, index) => etags.of(file, version(index)));
    expect(again.filter((etag, index) => etag !== first[index]).length).toBe(0);
    // Two thousand file writes: on a loaded machine (CI beside a CPU hog) they took longer than jest's default 5 s.
  }, 60_000);

  it('reads regular files only: a named pipe in the build would block the event loop until something wrote to it', async () => {
    const pipe = join(dir, 'events.log');
    execFileSync('mkfifo', [pipe]);
    expect(new ContentEtags().of(pipe, await stat(pipe))).toBeUndefined();
  });
});

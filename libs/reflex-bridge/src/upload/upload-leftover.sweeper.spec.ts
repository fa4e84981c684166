import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { lstat, mkdir, mkdtemp, readdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { partialCopyPath, TEMP_UPLOAD_DIRECTORY_PREFIX } from './upload-leftover-names.js';
import { PARTIAL_COPY_LEFTOVER_MS, TEMP_UPLOAD_LEFTOVER_MS, UploadLeftoverSweeper } from './upload-leftover.sweeper.js';

/** The sweep's clock: every file's time is set against it, so the age bounds are exact whatever the machine's pace. */
const NOW = Date.UTC(2026, 0, 15, 12);
const SECOND = 1000;

/** Writes `path` (and its folders) with `bytes` bytes, last written at `mtimeMs`. */
async function plant(path: string, bytes: number, mtimeMs: number): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 'x'));
  await utimes(path, mtimeMs / 1000, mtimeMs / 1000);
  return path;
}

/** A buffered upload's temp directory holding `files` (100 bytes each), all of it last written at `mtimeMs`. */
async function plantTempUpload(tempDirectory: string, name: string, mtimeMs: number, files = ['0', '1']): Promise<string> {
  const directory = join(tempDirectory, name);
  await mkdir(directory, { recursive: true });
  for (const file of files) await plant(join(directory, file), 100, mtimeMs);
  await utimes(directory, mtimeMs / 1000, mtimeMs / 1000);
  return directory;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

describe('UploadLeftoverSweeper', () => {
  let root: string;
  let stored: string;
  let temp: string;
  let warnings: string[];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'upload-leftover-sweeper-'));
    stored = join(root, 'stored');
    temp = join(root, 'temp');
    await mkdir(stored);
    await mkdir(temp);
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(root, { recursive: true, force: true });
  });

  function sweeper(directory = stored, tempDirectory = temp): UploadLeftoverSweeper {
    return new UploadLeftoverSweeper({ uploads: { directory, tempDirectory } } as unknown as ResolvedReflexBridgeOptions);
  }

  it('removes the partial copies moveTo makes anywhere under uploads.directory once unwritten for an hour, and nothing else', async () => {
    const old = NOW - PARTIAL_COPY_LEFTOVER_MS - SECOND;
    const recent = NOW - PARTIAL_COPY_LEFTOVER_MS + SECOND;
    const removed = [await plant(partialCopyPath(join(stored, 'a.png')), 1000, old), await plant(partialCopyPath(join(stored, 'p', 'q', 'r', 'b.png')), 234, old)];
    const kept = [
      // A copy in progress on a worker sharing the directory.
      await plant(partialCopyPath(join(stored, 'c.png')), 10, recent),
      // The app's own files, however old, and names that only look like the library's.
      await plant(join(stored, 'p', 'b.png'), 10, old),
      await plant(join(stored, '.reflex-upload-0123456789abcdef.partial.bak'), 10, old),
      await plant(join(stored, '.reflex-upload-0123456789ABCDEF.partial'), 10, old),
      await plant(join(stored, '.reflex-upload-0123.partial'), 10, old),
      await plant(join(stored, 'reflex-upload-0123456789abcdef.partial'), 10, old),
    ];
    // A folder named as a copy is not one.
    const folder = partialCopyPath(join(stored, 'd.png'));
    await mkdir(folder);
    await utimes(folder, old / 1000, old / 1000);
    kept.push(folder);
    // A partial copy in the temp directory is not where moveTo makes them.
    kept.push(await plant(partialCopyPath(join(temp, 'e.png')), 10, old));

    await sweeper().sweep(NOW);

    for (const path of removed) expect([path, await exists(path)]).toEqual([path, false]);
    for (const path of kept) expect([path, await exists(path)]).toEqual([path, true]);
    expect(warnings).toEqual([
      'Removed what uploads interrupted by a crash left behind (1234 bytes): partial copies of UploadFile.moveTo under uploads.directory: 2; temp directories of buffered uploads in uploads.tempDirectory: 0.',
    ]);
  });

  it("removes buffered uploads' temp directories directly in uploads.tempDirectory once nothing in them was written for a day", async () => {
    const old = NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND;
    const recent = NOW - TEMP_UPLOAD_LEFTOVER_MS + SECOND;
    const removed = [await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AbC123`, old), await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}000000`, old, [])];
    const kept = [
      // An upload on a worker sharing the directory, whose handler still reads its files.
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Recent`, recent),
      // Not mkdtemp's name, or not directly in the temp directory.
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AbC12`, old),
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AbC1234`, old),
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AbC-23`, old),
      await plantTempUpload(join(temp, 'nested'), `${TEMP_UPLOAD_DIRECTORY_PREFIX}Nested`, old),
      // Holding anything the library does not write there: someone else's too.
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Notes1`, old, ['0', 'notes.txt']),
      await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Folder`, old, ['0', 'sub/1']),
      // A file named as a temp directory.
      await plant(join(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AFile1`), 10, old),
    ];
    // One of its files written recently: its upload may still be running.
    const oneFresh = await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Fresh1`, old, ['0']);
    await plant(join(oneFresh, '1'), 10, recent);
    await utimes(oneFresh, old / 1000, old / 1000);
    kept.push(oneFresh);

    await sweeper().sweep(NOW);

    for (const path of removed) expect([path, await exists(path)]).toEqual([path, false]);
    for (const path of kept) expect([path, await exists(path)]).toEqual([path, true]);
    expect(await readdir(oneFresh)).toEqual(['0', '1']);
    expect(warnings).toEqual([
      'Removed what uploads interrupted by a crash left behind (200 bytes): partial copies of UploadFile.moveTo under uploads.directory: 0; temp directories of buffered uploads in uploads.tempDirectory: 2.',
    ]);
  });

  it('neither follows nor removes symbolic links, whatever they point at', async () => {
    const old = NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND;
    const outside = join(root, 'outside');
    const outsidePartial = await plant(partialCopyPath(join(outside, 'x.png')), 10, old);
    const outsideTempUpload = await plantTempUpload(outside, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Outsid`, old);
    const links = [join(stored, 'linked-folder'), partialCopyPath(join(stored, 'y.png')), join(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Link01`)];
    await symlink(outside, links[0]!);
    await symlink(outsidePartial, links[1]!);
    await symlink(outsideTempUpload, links[2]!);
    // A temp directory holding a link where a numbered file should be.
    const withLink = await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}HasLnk`, old, ['0']);
    await symlink(outsidePartial, join(withLink, '1'));
    await utimes(withLink, old / 1000, old / 1000);

    await sweeper().sweep(NOW);

    for (const path of [...links, outsidePartial, outsideTempUpload, withLink]) expect([path, await exists(path)]).toEqual([path, true]);
    expect(await readdir(outsideTempUpload)).toEqual(['0', '1']);
    expect(await readdir(withLink)).toEqual(['0', '1']);
    expect(warnings).toEqual([]);
  });

  it('logs nothing when nothing was left behind, or when the directories do not exist', async () => {
    await plant(join(stored, 'a.png'), 10, NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND);
    await sweeper().sweep(NOW);
    await sweeper(join(root, 'missing'), join(root, 'missing-too')).sweep(NOW);
    // A file where a folder of the path should be.
    await sweeper(join(stored, 'a.png', 'below'), join(stored, 'a.png')).sweep(NOW);
    expect(warnings).toEqual([]);
  });

  it('does nothing with uploads off', async () => {
    const partial = await plant(partialCopyPath(join(stored, 'a.png')), 10, NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND);
    await new UploadLeftoverSweeper({ uploads: false } as unknown as ResolvedReflexBridgeOptions).sweep(NOW);
    expect(await exists(partial)).toBe(true);
  });

  it('sweeps a tree whose folders are removed while it walks, without failing', async () => {
    const old = NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND;
    const folders: string[] = [];
    for (let i = 0; i < 100; i++) {
      const folder = join(stored, `f${i}`, 'inner');
      await plant(partialCopyPath(join(folder, 'x.png')), 10, old);
      await plant(join(folder, 'kept.png'), 10, old);
      folders.push(join(stored, `f${i}`));
    }
    const tempUpload = await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Remain`, old);
    // The folders go (another worker's cleanup, an operator) while the sweep lists and removes: whatever it met, a
    // folder or file gone meanwhile is nothing to sweep, and the rest is swept.
    const removing = (async () => {
      for (const folder of folders) await rm(folder, { recursive: true, force: true });
    })();
    await Promise.all([sweeper().sweep(NOW), removing]);

    expect(await readdir(stored)).toEqual([]);
    expect(await exists(tempUpload)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Removed what uploads interrupted by a crash left behind \(\d+ bytes\): partial copies of UploadFile\.moveTo under uploads\.directory: \d+; temp directories of buffered uploads in uploads\.tempDirectory: 1\.$/);
  });

  it('passes over a folder it cannot read, sweeps the rest, and names it in its one warning', async () => {
    const old = NOW - TEMP_UPLOAD_LEFTOVER_MS - SECOND;
    // A folder whose path is longer than the system allows (ENAMETOOLONG), built by renames that each name a short
    // path: unreadable whoever runs the test (a folder without permission is readable to root), as a volume's
    // lost+found is to an app that is not root.
    const names = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(240)}`);
    const deepest = join(root, 'chain');
    await mkdir(join(deepest, 'below'), { recursive: true });
    for (const name of names) {
      const next = join(root, `chain-${name.slice(0, 2)}`);
      await mkdir(next);
      await rename(deepest, join(next, name));
      await rename(next, deepest);
    }
    await rename(deepest, join(stored, 'deep'));
    const removed = [await plant(partialCopyPath(join(stored, 'a', 'x.png')), 10, old), await plant(partialCopyPath(join(stored, 'z', 'y.png')), 10, old)];
    const tempUpload = await plantTempUpload(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}AbC123`, old);
    try {
      await sweeper().sweep(NOW);
    } finally {
      // Taken apart as it was built, each step a short path, so the test's own clean-up can remove it.
      for (const name of [...names].reverse()) {
        const top = join(stored, 'deep');
        await rename(join(top, name), join(root, 'unwound'));
        await rm(top, { recursive: true });
        await rename(join(root, 'unwound'), top);
      }
    }

    // Before: the sweep stopped at that folder with a warning that it failed, at every start: the copies after it
    // in the walk and every temp directory were never removed.
    for (const path of [...removed, tempUpload]) expect([path, await exists(path)]).toEqual([path, false]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('Removed what uploads interrupted by a crash left behind (220 bytes): partial copies of UploadFile.moveTo under uploads.directory: 2; temp directories of buffered uploads in uploads.tempDirectory: 1.');
    expect(warnings[0]).toContain(`Passed over 1 folder(s) or file(s) it could not read or remove (the first: ${join(stored, 'deep', names[19]!)}/`);
    expect(warnings[0]).toContain('ENAMETOOLONG');
  });
});

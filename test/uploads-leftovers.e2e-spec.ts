import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { EventHandler, EventUploads, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { partialCopyPath, TEMP_UPLOAD_DIRECTORY_PREFIX } from '../libs/reflex-bridge/src/upload/upload-leftover-names.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';

@State()
class LeftoverUploadState {
  files = 0;

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    this.files += files.length;
  }
}

/** Two days ago: older than any bound a live upload could still be under. */
const LONG_AGO = new Date(Date.now() - 2 * 24 * 60 * 60_000);

/** Writes `path` (and its folder) with `bytes` bytes, last written at `when`. */
async function plant(path: string, bytes: number, when = new Date()): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 'x'));
  await utimes(path, when, when);
  return path;
}

/** A buffered upload's temp directory as a `kill -9` mid-upload leaves it: its numbered files, last written at `when`. */
async function plantTempUpload(tempDirectory: string, suffix: string, when: Date, files: string[] = ['0', '1']): Promise<string> {
  const directory = join(tempDirectory, `${TEMP_UPLOAD_DIRECTORY_PREFIX}${suffix}`);
  for (const file of files) await plant(join(directory, file), 100, when);
  await utimes(directory, when, when);
  return directory;
}

async function exists(path: string): Promise<boolean> {
  return (await readdir(join(path, '..'))).includes(basename(path));
}

/**
 * A worker killed in the middle of `UploadFile.moveTo` across devices (its copy beside the destination not yet renamed
 * over it) or of a buffered upload (its temp files not yet removed) leaves them, named as the library names them, with
 * the times of their last write: the next start removes the old ones, and nothing else.
 */
describe('what uploads interrupted by a crash left on disk', () => {
  let running: RunningApp;
  let root: string;
  const logger = new CapturingLogger();
  const paths: Record<string, string> = {};

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'uploads-leftovers-e2e-'));
    const stored = join(root, 'stored');
    const temp = join(root, 'temp');
    const outside = join(root, 'outside');
    // Crash leftovers, a day or more old.
    paths.oldPartial = await plant(partialCopyPath(join(stored, 'products', '42.png')), 5000, LONG_AGO);
    paths.oldTempUpload = await plantTempUpload(temp, 'AbC123', LONG_AGO);
    // A move and an upload in progress on another worker sharing the directories: written just now.
    paths.freshPartial = await plant(partialCopyPath(join(stored, 'products', '43.png')), 10);
    paths.freshTempUpload = await plantTempUpload(temp, 'XyZ789', new Date());
    // The app's own files, however old, and names that only look like ours.
    paths.storedImage = await plant(join(stored, 'products', '42.png'), 10, LONG_AGO);
    paths.notOurName = await plant(join(stored, '.reflex-upload-mine.partial'), 10, LONG_AGO);
    paths.otherTemp = await plant(join(temp, 'reflex-upload-of-another-app', '0'), 10, LONG_AGO);
    paths.sharedTempUpload = await plantTempUpload(temp, 'Qwe456', LONG_AGO, ['0', 'notes.txt']);
    // Links are never followed, whatever they point at, nor removed.
    paths.outsidePartial = await plant(partialCopyPath(join(outside, 'x.png')), 10, LONG_AGO);
    paths.outsideTempUpload = await plantTempUpload(outside, 'Lnk000', LONG_AGO);
    paths.linkedFolder = join(stored, 'linked');
    await symlink(outside, paths.linkedFolder);
    paths.linkedPartial = partialCopyPath(join(stored, 'x.png'));
    await symlink(paths.outsidePartial, paths.linkedPartial);
    paths.linkedTempUpload = join(temp, `${TEMP_UPLOAD_DIRECTORY_PREFIX}Sym123`);
    await symlink(paths.outsideTempUpload, paths.linkedTempUpload);

    running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ uploads: { directory: stored, tempDirectory: temp } })], providers: [LeftoverUploadState] },
      undefined,
      logger,
    );
  });

  afterAll(async () => {
    await running?.close();
    await rm(root, { recursive: true, force: true });
  });

  const sweepLines = () => logger.lines.filter((line) => line.message.includes('interrupted by a crash'));

  it('removes the old partial copy and temp upload at start, logged once, and leaves everything else as it was', async () => {
    // Before: nothing removed them, ever: a crash mid-move of a large file left it hidden among the served files.
    const [line] = await until(() => (sweepLines().length > 0 ? sweepLines() : undefined), 'the sweep to be logged');
    expect(line).toMatchObject({ level: 'warn' });
    expect(line!.message).toContain('(5200 bytes)');
    expect(line!.message).toContain('uploads.directory: 1;');
    expect(line!.message).toContain('uploads.tempDirectory: 1.');
    expect(await exists(paths.oldPartial!)).toBe(false);
    expect(await exists(paths.oldTempUpload!)).toBe(false);
    for (const kept of ['freshPartial', 'freshTempUpload', 'storedImage', 'notOurName', 'otherTemp', 'sharedTempUpload', 'outsidePartial', 'outsideTempUpload', 'linkedFolder', 'linkedPartial', 'linkedTempUpload']) {
      expect([kept, await exists(paths[kept]!)]).toEqual([kept, true]);
    }
    expect(await readdir(paths.sharedTempUpload!)).toEqual(['0', 'notes.txt']);
    expect(sweepLines()).toHaveLength(1);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHandler, EventUploads, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { UploadRoute } from '../libs/reflex-bridge/src/upload/upload.route.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const DISK = 'reflex___state____state.disk_upload_state';
/** The temp directory's device: small enough that one upload fills it. */
const DEVICE_BYTES = 64 * 1024;

@State()
class DiskUploadState {
  bytes = 0;

  @EventHandler()
  attach(@EventUploads() files: UploadFile[]): void {
    this.bytes += files.reduce((sum, file) => sum + file.size, 0);
  }

  /** Replaces the product's stored image with the upload, as docs/uploads.md shows (`moveTo`). */
  @EventHandler()
  async replaceImage(@EventUploads() files: UploadFile[]): Promise<void> {
    await files[0]!.moveTo(join(storedDirectory, 'products', '42.png'));
  }
}

/** Where `replaceImage` keeps its files: set by the spec that mounts it. */
let storedDirectory = '';

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A real tmpfs of the given mount options on a new directory (mounted as CI runs: as root); `unmount` removes it. */
async function mountTmpfs(prefix: string, options: string): Promise<{ path: string; unmount(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', path]);
  return {
    path,
    async unmount() {
      try {
        execFileSync('umount', [path]);
      } finally {
        await rm(path, { recursive: true, force: true });
      }
    },
  };
}

/** The uploads options of one describe's app, and how to undo what its set-up made (a mount, a folder). */
interface DiskSetUp {
  uploads: { tempDirectory: string; directory?: string };
  cleanUp(): Promise<void>;
}

/**
 * One app per describe, on the disk `setUp` prepares (run before the app starts): its logger, its tabs (closed after
 * each test), and a one-file upload to `DiskUploadState`.
 */
function diskApp(setUp: () => Promise<DiskSetUp>) {
  let running: RunningApp | undefined;
  let made: DiskSetUp | undefined;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    made = await setUp();
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ uploads: made.uploads })], providers: [DiskUploadState] }, undefined, logger);
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    try {
      await running?.close();
    } finally {
      await made?.cleanUp();
    }
  });

  const app = {
    logger,
    get running(): RunningApp {
      if (!running) throw new Error('the app is not started yet');
      return running;
    },
    tab: (): Promise<RawSocket> => RawSocket.hydrated(app.running.url, sockets),
    /** Posts one file of `bytes` bytes to `handler`. */
    upload: (token: string, bytes: number, handler = 'attach'): Promise<Response> => {
      const form = new FormData();
      form.append('files', new Blob([Buffer.alloc(bytes, 'x')]), 'photo.bin');
      return fetch(`${app.running.url}/_upload`, { method: 'POST', headers: { 'Reflex-Client-Token': token, 'Reflex-Event-Handler': `${DISK}.${handler}` }, body: form });
    },
    /** Resolves once every upload gave its slot back. */
    slotsBack: (): Promise<void> => until(() => app.running.app.get(UploadRoute).inProgress === 0, 'the upload slot to come back'),
  };
  return app;
}


type DiskApp = ReturnType<typeof diskApp>;
type Tab = Awaited<ReturnType<DiskApp['tab']>>;

/**
 * An upload of `bytes` from `tab`, refused `status` `code` for the disk (a handler that never ran): the answer says when
 * to retry (an operator must act: 30 s), and the tab is told.
 */
async function expectRefusedForTheDisk(app: DiskApp, tab: Tab, bytes: number, status: number, code: string): Promise<void> {
  const refused = await app.upload(tab.token, bytes);
  // Before: 500 {"code": "handler_error"} for a handler that never ran, no Retry-After, and the tab told nothing.
  expect(refused.status).toBe(status);
  expect(refused.headers.get('retry-after')).toBe('30');
  expect(await refused.json()).toEqual({ detail: expect.any(String) as unknown, code });
  await tab.until(() => tab.errors.length === 1, 20_000, 'the tab to be told');
  expect(tab.errors[0]).toMatchObject({ code, event: `${DISK}.attach`, status });
}

/** An upload of 1,000 bytes from `tab` is accepted and reaches the state. */
async function expectAccepted(app: DiskApp, tab: Tab): Promise<void> {
  const accepted = await app.upload(tab.token, 1000);
  expect(accepted.status).toBe(200);
  await accepted.text();
  await tab.hydrate();
  expect(tab.latest(DISK, 'bytes')).toBe(1000);
}

/**
 * The temp directory on a real, tiny file system (a tmpfs, mounted as CI runs: as root): a full disk is the kernel's
 * `ENOSPC`, not a simulation. `uploads.maxTempBytes` (16 GiB by default) is far above it, as on a machine whose disk
 * other processes (the database, logs) filled.
 */
describe('uploads when the temp directory\'s disk is full', () => {
  let mountPoint = '';
  const app = diskApp(async () => {
    const disk = await mountTmpfs('uploads-disk-e2e-', `size=${DEVICE_BYTES}`);
    mountPoint = disk.path;
    return { uploads: { tempDirectory: join(mountPoint, 'temp') }, cleanUp: () => disk.unmount() };
  });

  it('answers 507 upload_storage_full, tells the tab, logs the cause, keeps nothing, and takes the next upload that fits', async () => {
    const tab = await app.tab();
    await expectRefusedForTheDisk(app, tab, 4 * DEVICE_BYTES, 507, 'upload_storage_full');
    // The operator learns why: the file system's own error is in the log line.
    expect(app.logger.lines.some((line) => line.level === 'error' && line.message.includes('ENOSPC'))).toBe(true);
    expect(await readdir(join(mountPoint, 'temp'))).toEqual([]);
    await app.slotsBack();
    await expectAccepted(app, tab);
  });
});

/**
 * A device with no inode left (a disk full of small files: sessions, caches): the upload's own temp directory cannot be
 * created, before any byte of it is written.
 */
describe('uploads when the temp directory\'s disk has no inode left', () => {
  const app = diskApp(async () => {
    // Two inodes: the root and the temp directory, made here; none is left for the upload's.
    const disk = await mountTmpfs('uploads-inodes-e2e-', 'size=1m,nr_inodes=2');
    await mkdir(join(disk.path, 'temp'));
    return { uploads: { tempDirectory: join(disk.path, 'temp') }, cleanUp: () => disk.unmount() };
  });

  it('answers 507 upload_storage_full and tells the tab', async () => {
    const tab = await app.tab();
    await expectRefusedForTheDisk(app, tab, 1000, 507, 'upload_storage_full');
    await app.slotsBack();
  });
});

/**
 * `uploads.directory` on its own small device, the temp directory on another (the default, `os.tmpdir()`, usually is):
 * `moveTo` cannot rename across them and copies. That copy must not leave a half file where the app serves its files.
 */
describe('moveTo into a full disk', () => {
  let tempDirectory = '';
  let mountPoint = '';
  const app = diskApp(async () => {
    tempDirectory = await mkdtemp(join(tmpdir(), 'uploads-disk-temp-e2e-'));
    const disk = await mountTmpfs('uploads-disk-stored-e2e-', `size=${DEVICE_BYTES}`);
    mountPoint = disk.path;
    storedDirectory = mountPoint;
    return {
      uploads: { directory: mountPoint, tempDirectory },
      async cleanUp() {
        try {
          await disk.unmount();
        } finally {
          await rm(tempDirectory, { recursive: true, force: true });
        }
      },
    };
  });

  it('keeps the stored file whole when the copy runs out of room, and leaves no partial copy behind', async () => {
    const products = join(mountPoint, 'products');
    await mkdir(products, { recursive: true });
    const previous = Buffer.alloc(1000, 'o');
    await writeFile(join(products, '42.png'), previous);
    const tab = await app.tab();
    const response = await app.upload(tab.token, 4 * DEVICE_BYTES, 'replaceImage');
    // The handler failed (its moveTo threw ENOSPC): that is the app's to handle.
    expect(response.status).toBe(500);
    await response.text();
    // Before: the copy went onto the stored image itself, which was truncated, and removed when the copy failed: the
    // product's image was gone (404), for an upload that never replaced it.
    expect(await readFile(join(products, '42.png'))).toEqual(previous);
    expect(await readdir(products)).toEqual(['42.png']);
    const served = await fetch(`${app.running.url}/_upload/products/42.png`);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(previous);
    await until(async () => (await readdir(tempDirectory)).length === 0, 'the temp files to go');
  });
});

/**
 * The temp directory on a file system the worker cannot write: remounted read-only (a full or failing disk the kernel
 * turned read-only, a container's read-only root), or a path that cannot be a directory (`ENOTDIR`, a file where the
 * folder should be). The tests run as root, who passes permission bits: a read-only mount is how CI shows it.
 */
describe('uploads when the temp directory cannot be written', () => {
  let mountPoint = '';
  const app = diskApp(async () => {
    const disk = await mountTmpfs('uploads-readonly-e2e-', 'size=1m');
    mountPoint = disk.path;
    await mkdir(join(mountPoint, 'temp'));
    return { uploads: { tempDirectory: join(mountPoint, 'temp') }, cleanUp: () => disk.unmount() };
  });

  it('answers 503 upload_storage_unavailable on a read-only file system, tells the tab, logs EROFS, and takes the next upload once it is writable', async () => {
    execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
    const tab = await app.tab();
    await expectRefusedForTheDisk(app, tab, 1000, 503, 'upload_storage_unavailable');
    expect(app.logger.lines.some((line) => line.level === 'error' && line.message.includes('EROFS'))).toBe(true);
    await app.slotsBack();
    execFileSync('mount', ['-o', 'remount,rw', mountPoint]);
    expect(await readdir(join(mountPoint, 'temp'))).toEqual([]);
    await expectAccepted(app, tab);
    expect(await readdir(join(mountPoint, 'temp'))).toEqual([]);
  });

  it('logs a read-only outage once, not once per upload, and says when uploads are stored again', async () => {
    const tab = await app.tab();
    const from = app.logger.lines.length;
    execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
    for (let i = 0; i < 20; i++) {
      const refused = await app.upload(tab.token, 1000);
      expect(refused.status).toBe(503);
      await refused.text();
    }
    // Before: 20 error lines with a stack each, one per refused upload: an operator's log buried while users retry.
    const errors = () => app.logger.lines.slice(from).filter((line) => line.level === 'error');
    expect(errors()).toHaveLength(1);
    expect(errors()[0]!.message).toContain('EROFS');
    execFileSync('mount', ['-o', 'remount,rw', mountPoint]);
    const accepted = await app.upload(tab.token, 1000);
    expect(accepted.status).toBe(200);
    await accepted.text();
    expect(app.logger.lines.slice(from).some((line) => line.message.includes('20 uploads were refused'))).toBe(true);
  });
});

describe('uploads when the temp directory is under a regular file', () => {
  const app = diskApp(async () => {
    const parent = await mkdtemp(join(tmpdir(), 'uploads-notdir-e2e-'));
    await writeFile(join(parent, 'file'), 'not a directory');
    return { uploads: { tempDirectory: join(parent, 'file', 'temp') }, cleanUp: () => rm(parent, { recursive: true, force: true }) };
  });

  it('answers 503 upload_storage_unavailable, tells the tab and logs ENOTDIR', async () => {
    const tab = await app.tab();
    await expectRefusedForTheDisk(app, tab, 1000, 503, 'upload_storage_unavailable');
    expect(app.logger.lines.some((line) => line.level === 'error' && line.message.includes('ENOTDIR'))).toBe(true);
    await app.slotsBack();
  });
});

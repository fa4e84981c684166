import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { UploadFile } from './upload-file.js';

describe('UploadFile', () => {
  let dir: string;
  let other: string | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'upload-file-spec-'));
    other = undefined;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (other) rmSync(other, { recursive: true, force: true });
  });

  it('reads its bytes from the temp file as a stream', async () => {
    const path = join(dir, '0');
    writeFileSync(path, 'hello');
    const file = new UploadFile('photos/cat.txt', 5, 'text/plain', path);
    expect([file.name, file.size, file.contentType, file.path]).toEqual(['photos/cat.txt', 5, 'text/plain', path]);
    expect(await text(file.stream())).toBe('hello');
  });

  it('moveTo renames into a new directory and then reads from there', async () => {
    const path = join(dir, '0');
    writeFileSync(path, 'data');
    const file = new UploadFile('a.txt', 4, 'text/plain', path);
    const destination = join(dir, 'store', 'nested', 'a.txt');
    await file.moveTo(destination);
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(destination, 'utf8')).toBe('data');
    expect(file.path).toBe(destination);
    expect(await text(file.stream())).toBe('data');
  });

  it('moveTo copies and unlinks across devices (the temp dir to /dev/shm where that is another file system)', async () => {
    if (!existsSync('/dev/shm')) return;
    other = mkdtempSync('/dev/shm/upload-file-spec-');
    const path = join(dir, '0');
    writeFileSync(path, Buffer.alloc(100_000, 7));
    const file = new UploadFile('big.bin', 100_000, 'application/octet-stream', path);
    const destination = join(other, 'big.bin');
    await file.moveTo(destination);
    expect(existsSync(path)).toBe(false);
    expect(statSync(destination).size).toBe(100_000);
    expect(readFileSync(destination).every((byte) => byte === 7)).toBe(true);
  });

  it('moveTo copies across devices to a destination whose name is as long as the file system allows', async () => {
    if (!existsSync('/dev/shm')) return;
    other = mkdtempSync('/dev/shm/upload-file-spec-');
    const path = join(dir, '0');
    writeFileSync(path, 'long');
    const destination = join(other, `${'n'.repeat(251)}.png`);
    await new UploadFile('a.png', 4, 'image/png', path).moveTo(destination);
    expect(readFileSync(destination, 'utf8')).toBe('long');
  });

  it('moveTo fails (and leaves the file where it was) when the temp file is gone', async () => {
    const file = new UploadFile('gone.txt', 1, 'text/plain', join(dir, 'missing'));
    await expect(file.moveTo(join(dir, 'dest.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(file.path).toBe(join(dir, 'missing'));
  });
});

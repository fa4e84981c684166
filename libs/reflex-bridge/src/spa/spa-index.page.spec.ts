import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpaIndexPage } from './spa-index.page.js';

describe('SpaIndexPage', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spa-index-page-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves one Buffer to many concurrent requests and reads a new version, however it was written', async () => {
    const file = join(dir, 'index.html');
    const epoch = new Date('1980-01-01T00:00:00Z');
    await writeFile(file, 'version-1');
    const page = new SpaIndexPage(file);
    const first = await Promise.all(Array.from({ length: 500 }, () => page.read()));
    expect(new Set(first.map((version) => version.body)).size).toBe(1);
    expect(first[0]!.body.toString()).toBe('version-1');
    expect((await page.read()).body).toBe(first[0]!.body);
    // Written over in place with the same size and mtime.
    await writeFile(file, 'version-2');
    await utimes(file, epoch, epoch);
    const second = await page.read();
    expect(second.body.toString()).toBe('version-2');
    expect(second.etag).not.toBe(first[0]!.etag);
    // Renamed over it.
    await writeFile(`${file}.next`, 'version-3');
    await rename(`${file}.next`, file);
    expect((await page.read()).body.toString()).toBe('version-3');
  });

  it('rejects as fs does while there is no index.html, and serves it once there is', async () => {
    const file = join(dir, 'later.html');
    const page = new SpaIndexPage(file);
    await expect(page.read()).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(file, 'here now');
    expect((await page.read()).body.toString()).toBe('here now');
  });
});

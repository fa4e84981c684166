import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAppModule } from './app-module.loader.js';

describe('loadAppModule on a file that is not a built Nest module', () => {
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reflex-loader-'));
    await writeFile(join(dir, 'service.mjs'), 'export default class AppService {}\n');
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says a class export is not a Nest module, rather than trying to call it', async () => {
    // Before: "Class constructor AppService cannot be invoked without 'new'".
    await expect(loadAppModule(join(dir, 'service.mjs'))).rejects.toThrow('service.mjs: the export AppService is a class but not a Nest module (no @Module())');
  });
});

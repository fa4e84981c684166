import { describe, expect, it } from '@jest/globals';
import { loadTypeScript } from './typescript-compiler.loader.js';

describe('loadTypeScript', () => {
  it('gives the compiler API of the installed typescript (5.5 to 6)', async () => {
    const loaded = await loadTypeScript();
    expect('ts' in loaded && typeof loaded.ts.createProgram).toBe('function');
  });

  it('says the package is missing when it cannot be imported', async () => {
    const loaded = await loadTypeScript(() => Promise.reject(Object.assign(new Error("Cannot find package 'typescript'"), { code: 'ERR_MODULE_NOT_FOUND' })));
    expect(loaded).toEqual({ unavailable: 'the package typescript is not installed' });
  });

  it("says why TypeScript 7's package cannot be used: it exports only its version, no compiler API", async () => {
    // What `import('typescript')` gives with typescript@7.0.2 installed (its main export is lib/version.cjs).
    const typescript7 = { version: '7.0.2', versionMajorMinor: '7.0' };
    const loaded = await loadTypeScript(() => Promise.resolve({ default: typescript7, ...typescript7 }));
    expect(loaded).toEqual({ unavailable: expect.stringContaining('typescript 7.0.2 has no compiler API') });
    expect((loaded as { unavailable: string }).unavailable).toContain('typescript 5.5 to 6');
  });
});

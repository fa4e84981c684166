import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { equivalentPathname } from './equivalent-pathname.js';

describe('equivalentPathname', () => {
  it('decodes escaped unreserved characters and merges runs of slashes', () => {
    expect(equivalentPathname('//ping')).toBe('/ping');
    expect(equivalentPathname('/%70ing')).toBe('/ping');
    expect(equivalentPathname('/%5Fbridge//%64evtools')).toBe('/_bridge/devtools');
    expect(equivalentPathname('/a%2D%5f%7E%30%39%41%5A%61%7a')).toBe('/a-_~09AZaz');
  });

  it('leaves reserved and other escapes as they are (they change what the path means)', () => {
    for (const path of ['/a%2e', '/a%2Fb', '/a%20b', '/%3F', '/%25', '/%40', '/%60', '/%5B', '/%7B', '/%ZZ', '/%7']) expect(equivalentPathname(path)).toBe(path);
  });

  it('gives a path with no escape and no doubled slash back as it is, and is idempotent on what it gives', () => {
    fc.assert(
      fc.property(fc.webPath(), fc.string(), (path, any) => {
        const plain = path.replace(/%/g, '').replace(/\/{2,}/g, '/');
        expect(equivalentPathname(plain)).toBe(plain);
        const once = equivalentPathname(`/${any}`);
        expect(equivalentPathname(once)).toBe(once.replace(/\/{2,}/g, '/'));
      }),
    );
  });

  it('reads every unreserved character but the dot escaped, in either letter case, as the character', () => {
    fc.assert(
      fc.property(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~'), fc.boolean(), (char, lower) => {
        const hex = char.charCodeAt(0).toString(16);
        expect(equivalentPathname(`/%${lower ? hex.toLowerCase() : hex.toUpperCase()}`)).toBe(`/${char}`);
      }),
    );
  });
});

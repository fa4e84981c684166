import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { requestPathname } from './request-pathname.js';

const request = (url: string) => ({ url }) as IncomingMessage;
/** Express's own reading of a request's URL (its router routes by `parseurl(req).pathname`). */
const parseurl = createRequire(createRequire(import.meta.url).resolve('express'))('parseurl') as (req: { url: string }) => { pathname: string | null } | undefined;

describe('requestPathname', () => {
  it('reads origin-form, absolute-form and asterisk-form targets as Express routes them', () => {
    const cases: Array<[string, string]> = [
      ['/cart?x=1', '/cart'],
      ['/', '/'],
      ['http://host/_bridge/x?y', '/_bridge/x'],
      ['HTTPS://host:8443/_event/?EIO=4', '/_event/'],
      ['http://host', '/'],
      ['http://host?x=1', '/'],
      ['http://user@host//double', '//double'],
      ['*', '*'],
      ['//evil.example/cart', '//evil.example/cart'],
      // A fragment makes Express read the target with url.parse: the path ends at `#`, backslashes read as `/`.
      ['/_event#x', '/_event'],
      ['/_bridge#/x', '/_bridge'],
      ['/_bridge\\x#', '/_bridge/x'],
      ['/cart?q=a#b', '/cart'],
      ['/_bridge\\x', '/_bridge\\x'],
      // Targets url.parse refuses or finds no path in: no path, as Express routes nothing by them.
      ['http://[x/a', ''],
      ['//%@ /', ''],
      ['http:', ''],
    ];
    for (const [url, path] of cases) expect([url, requestPathname(request(url))]).toEqual([url, path]);
  });

  it('prefers originalUrl (what Express keeps when a mounted router rewrote url)', () => {
    expect(requestPathname({ url: '/x', originalUrl: '/app/x' } as IncomingMessage & { originalUrl: string })).toBe('/app/x');
  });

  it('reads an absolute-form target as the origin-form target of the same path', () => {
    const target = fc.string({ unit: fc.constantFrom('/', '.', 'a', '_', '%', '?', '=', ':', '@'), maxLength: 30 }).map((rest) => `/${rest}`);
    const authority = fc.constantFrom('host', 'host:8080', 'user@host', '127.0.0.1', '[::1]:80');
    fc.assert(fc.property(target, authority, (path, host) => expect(requestPathname(request(`http://${host}${path}`))).toBe(requestPathname(request(path)))));
  });

  it('reads every target as Express routes it (parseurl), whatever characters it holds', () => {
    const unit = fc.constantFrom('/', '\\', '.', 'a', 'B', '_', '%', '?', '#', '=', ':', '@', '[', ' ', '\u00a0', '*');
    const target = fc.oneof(
      fc.string({ unit, maxLength: 30 }).map((rest) => `/${rest}`),
      fc.string({ unit, maxLength: 30 }).map((rest) => `http://${rest}`),
      fc.string({ unit, maxLength: 30 }),
    );
    fc.assert(
      fc.property(target, (url) => {
        let expressPath: string | null | undefined;
        try {
          expressPath = parseurl(request(url) as unknown as { url: string })?.pathname;
        } catch {
          expressPath = undefined;
        }
        const path = requestPathname(request(url));
        // Where Express finds a path, the same one; where it finds none, nothing that starts like a path.
        if (typeof expressPath === 'string' && expressPath.startsWith('/')) expect(path).toBe(expressPath);
        else expect(path.startsWith('/')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

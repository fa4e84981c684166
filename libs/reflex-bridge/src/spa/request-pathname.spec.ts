import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { requestPathname } from './request-pathname.js';

const request = (url: string) => ({ url }) as IncomingMessage;

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
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { PARSED_COOKIE_CHARS_MAX, PARSED_COOKIE_HEADERS_MAX, mergeSetCookies, parseCookieHeader, parseCookieHeaderShared, parsedCookieMemo } from './cookie-header.js';
import { SyntheticRequest } from './synthetic-request.js';

describe('parseCookieHeaderShared', () => {
  it('parses like parseCookieHeader, once per header string, into a frozen shared object', () => {
    const header = 'a=1; b="two"; c=%20three; a=ignored';
    const first = parseCookieHeaderShared(header);
    expect(first).toEqual(parseCookieHeader(header));
    expect(first).toEqual({ a: '1', b: 'two', c: ' three' });
    expect(Object.isFrozen(first)).toBe(true);
    expect(parseCookieHeaderShared(header)).toBe(first);
  });

  it('parses a different header anew', () => {
    expect(parseCookieHeaderShared('sid=one')).toEqual({ sid: 'one' });
    expect(parseCookieHeaderShared('sid=two')).toEqual({ sid: 'two' });
    expect(parseCookieHeaderShared(undefined)).toEqual({});
  });

  it('is bounded: the oldest header is forgotten first, and parsed again when it comes back', () => {
    const oldest = parseCookieHeaderShared('bound=oldest');
    for (let i = 0; i < PARSED_COOKIE_HEADERS_MAX; i++) parseCookieHeaderShared(`bound=${i}`);
    const again = parseCookieHeaderShared('bound=oldest');
    expect(again).not.toBe(oldest);
    expect(again).toEqual(oldest);
  });

  it('is bounded in characters too: made-up 12 KB headers, one per socket, cannot hold the heap', () => {
    const common = parseCookieHeaderShared('sid=common');
    for (let i = 0; i < 1_000; i++) {
      parseCookieHeaderShared(`pad=${i}${'x'.repeat(12_000)}`);
      expect(parsedCookieMemo().chars).toBeLessThanOrEqual(PARSED_COOKIE_CHARS_MAX);
    }
    expect(parsedCookieMemo().headers).toBeLessThanOrEqual(Math.ceil(PARSED_COOKIE_CHARS_MAX / 12_000));
    // Still a memo: a header seen again is the same parse, and one forgotten is parsed again, equal.
    const ordinary = parseCookieHeaderShared('sid=again');
    expect(parseCookieHeaderShared('sid=again')).toBe(ordinary);
    expect(parseCookieHeaderShared('sid=common')).toEqual(common);
  });

  it('gives every synthetic request its own cookies object, which middleware may change', () => {
    const init = { path: '/', query: {}, headers: { cookie: 'sid=abc' }, ip: '1.2.3.4', remoteAddress: '1.2.3.4', secure: false };
    const first = new SyntheticRequest(init);
    const second = new SyntheticRequest({ ...init, headers: { cookie: 'sid=abc' } });
    first.cookies.sid = 'changed';
    expect(second.cookies).toEqual({ sid: 'abc' });
    expect(parseCookieHeaderShared('sid=abc')).toEqual({ sid: 'abc' });
  });
});

describe('parseCookieHeader', () => {
  // The `cookie` package express-session itself loads: fast auth must read the session id it reads.
  const requireFromSession = createRequire(createRequire(import.meta.url).resolve('express-session'));
  const cookie = requireFromSession('cookie') as { parse(header: string): Record<string, string> };

  it('reads any header as express-session\'s cookie parser does (random headers)', () => {
    const piece = fc.constantFrom('connect.sid', 'a', 'constructor', 'toString', '__proto__', '=', ';', ' ', '\t', '\u00a0', '"', '%', '%41', '%E0%A4%A', 's:abc.def', '');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
        const header = pieces.join('');
        const expected = { ...cookie.parse(header) };
        // A cookie without a name is nobody's: not read here.
        delete expected[''];
        expect({ ...parseCookieHeader(header) }).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a session cookie behind a non-breaking space as another name, as express-session does', () => {
    expect(parseCookieHeader('\u00a0connect.sid=A; connect.sid=B')['connect.sid']).toBe('B');
    expect(parseCookieHeader('constructor=x; toString=y')).toEqual({ constructor: 'x', toString: 'y' });
  });
});

describe('mergeSetCookies', () => {
  it('keeps the value of a repeated cookie that the parsers read (the first), and replaces or drops what Set-Cookie names', () => {
    // A browser sends two cookies of one name (set for two paths): express-session's parser and ours read the first.
    const merged = mergeSetCookies('theme=dark; theme=light; connect.sid=old', ['connect.sid=new; Path=/; HttpOnly']);
    expect(parseCookieHeader(merged)).toEqual({ theme: 'dark', 'connect.sid': 'new' });
    expect(parseCookieHeader(merged).theme).toBe(parseCookieHeader('theme=dark; theme=light').theme);
    expect(mergeSetCookies('a=1; b=2', ['a=; Max-Age=0'])).toBe('b=2');
  });
});

describe('SyntheticRequest', () => {
  it('builds the URL from the path and query (arrays repeated, null and undefined left out)', () => {
    const base = { headers: {}, ip: '1.2.3.4', remoteAddress: '1.2.3.4', secure: false };
    expect(new SyntheticRequest({ ...base, path: 'shop', query: {} }).url).toBe('/shop');
    expect(new SyntheticRequest({ ...base, path: '/shop', query: { a: 1, b: ['x', 'y'], c: null, d: undefined } }).url).toBe('/shop?a=1&b=x&b=y');
  });
});

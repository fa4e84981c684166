import { describe, expect, it } from '@jest/globals';
import { Router, type Request, type Response } from 'express';
import fc from 'fast-check';
import { undecodedRoutePath } from './undecoded-route-path.js';

const PREFIX = '/_bridge/session-cookie/';

/**
 * What Express's router does with a GET of `url` given `route`: the handler is reached (`'handled'`), the request is
 * passed on (`'next'`), or it is failed with an error (its status, Express's 400 for a parameter it cannot decode).
 */
function dispatch(route: string | RegExp, url: string): Promise<'handled' | 'next' | number> {
  return new Promise((resolve) => {
    const router = Router();
    router.get(route, () => resolve('handled'));
    // The router reads the method and URL only, for a GET it routes.
    const req = { method: 'GET', url, headers: {} } as Request;
    router(req, {} as Response, (error?: unknown) => resolve(error ? ((error as { status?: number }).status ?? 500) : 'next'));
  });
}

/** Rests of a path: segments of letters, escapes (well-formed or not), dots and slashes. */
const rest = fc.string({ unit: fc.constantFrom('a', 'Z', '.', '-', '_', '/', '%', '%41', '%2F', '%E0%A4%A', '%C3%A9', '%zz', '~'), maxLength: 12 });

describe('undecodedRoutePath', () => {
  it('reaches the route whatever the percent-encoding of the rest, never failing the request', async () => {
    for (const url of [`${PREFIX}%E0%A4%A`, `${PREFIX}%zz`, `${PREFIX}%`]) expect(await dispatch(undecodedRoutePath(PREFIX, 'segment'), url)).toBe('handled');
    expect(await dispatch(undecodedRoutePath('/_upload/', 'rest'), '/_upload/a/%E0%A4%A/b.png')).toBe('handled');
    // What it replaces: Express's 400 before the route ran.
    expect(await dispatch(`${PREFIX}:id`, `${PREFIX}%E0%A4%A`)).toBe(400);
  });

  it('matches one segment as `<prefix>:id` does, and the rest of the path as `<prefix>*path` does, when Express can decode it', async () => {
    await fc.assert(
      fc.asyncProperty(rest, fc.boolean(), fc.constantFrom('', '?q=%zz/x'), async (tail, upperCase, query) => {
        const url = `${upperCase ? PREFIX.toUpperCase() : PREFIX}${tail}${query}`;
        for (const [shape, expressPath] of [['segment', `${PREFIX}:id`], ['rest', `${PREFIX}*path`]] as const) {
          const ours = await dispatch(undecodedRoutePath(PREFIX, shape), url);
          const express = await dispatch(expressPath, url);
          expect(ours).not.toEqual(expect.any(Number));
          // Where Express failed to decode, ours reaches the route instead (it decodes the rest itself).
          expect({ shape, url, ours }).toEqual({ shape, url, ours: express === 400 ? 'handled' : express });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('takes the prefix literally, whatever characters it has', async () => {
    const prefix = '/a.b+(c)[d]{1}$^|*/';
    expect(await dispatch(undecodedRoutePath(prefix, 'segment'), `${prefix}x`)).toBe('handled');
    expect(await dispatch(undecodedRoutePath(prefix, 'segment'), '/aXb+(c)[d]{1}$^|*/x')).toBe('next');
    expect(await dispatch(undecodedRoutePath(prefix, 'rest'), `${prefix}`)).toBe('next');
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createContext, runInContext } from 'node:vm';
import { cookieHandoffEvent, handoffUrl } from './cookie-handoff.event.js';

/** Runs the handoff's function as state.js does, in a context with a recording `fetch` and the tab's storage. */
async function runHandoff(source: string, page = 'http://localhost:3000/cart', token = 'tab-token') {
  const calls: Array<{ url: string; init: { method: string; credentials: string; headers: Record<string, string> } }> = [];
  let pwned = 0;
  const context = createContext({
    URL,
    String,
    console: { error: () => undefined },
    window: { location: { href: page }, sessionStorage: { getItem: (key: string) => (key === 'token' ? token : null) } },
    fetch: (url: URL, init: never) => {
      calls.push({ url: String(url), init });
      return Promise.resolve({ ok: true, status: 200 });
    },
    pwned: () => void pwned++,
  });
  const fn = runInContext(`"use strict";\n${source}`, context) as () => Promise<unknown>;
  await fn();
  return { calls, pwned };
}

describe('the cookie handoff as a client event', () => {
  it('is a _call_function whose function POSTs to the backend with credentials and both proofs', async () => {
    const event = cookieHandoffEvent('/_bridge/session-cookie/abc', 's3cret', { host: 'localhost:8000', scheme: undefined });
    expect(event.name).toBe('_call_function');
    expect(event.payload).toMatchObject({ callback: null, bridge_session_cookie: { url: '/_bridge/session-cookie/abc', secret: 's3cret' } });
    const { calls } = await runHandoff(event.payload.function as string);
    expect(calls).toEqual([
      {
        url: 'http://localhost:8000/_bridge/session-cookie/abc',
        init: { method: 'POST', credentials: 'include', headers: { 'x-reflex-handoff': 's3cret', 'reflex-client-token': 'tab-token' } },
      },
    ]);
  });

  it('names the host the socket reached (scheme from a trusted proxy, else the page), or only the path for an odd Host', () => {
    expect(handoffUrl('/h/1', { host: 'shop.example', scheme: 'https' })).toBe('https://shop.example/h/1');
    expect(handoffUrl('/h/1', { host: '[::1]:3000', scheme: undefined })).toBe('//[::1]:3000/h/1');
    expect(handoffUrl('/h/1', { host: 'evil.example/x"', scheme: undefined })).toBe('/h/1');
    expect(handoffUrl('/h/1', { host: undefined, scheme: undefined })).toBe('/h/1');
  });

  it('carries any path and secret text to fetch unchanged, running nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), async (id, secret) => {
        const event = cookieHandoffEvent(`/_bridge/session-cookie/${id}"); pwned(); ("`, `${secret}</script>\u2028`, { host: 'localhost:8000', scheme: undefined });
        const { calls, pwned } = await runHandoff(event.payload.function as string);
        expect(pwned).toBe(0);
        expect(calls).toHaveLength(1);
        expect(calls[0]!.init.headers['x-reflex-handoff']).toBe(`${secret}</script>\u2028`);
      }),
      { numRuns: 100 },
    );
  });
});

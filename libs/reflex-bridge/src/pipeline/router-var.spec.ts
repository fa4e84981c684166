import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { buildRouterVar, routerVarShows, splitReflexUrl } from './router-var.js';
import type { RouterData } from '../protocol/inbound-event.js';

const routerData = (overrides: Partial<RouterData> = {}): RouterData => ({
  pathname: '/product/[id]',
  asPath: '/product/7?x=1#top',
  query: { id: '7', x: '1' },
  token: 'tok-1',
  sid: 'sid-1',
  ip: '10.0.0.9',
  headers: {
    host: '127.0.0.1:8000',
    origin: 'http://localhost:3000',
    'user-agent': 'Chromium',
    'accept-language': 'fr',
    cookie: 'connect.sid=secret',
    authorization: 'Bearer secret',
    'sec-websocket-version': '13',
    'asgi-scope-client': '10.0.0.9',
  },
  ...overrides,
});

describe('buildRouterVar', () => {
  it("serialises Reflex's RouterData: session, headers, page, url, route_id, with the frontend's origin as host", () => {
    expect(buildRouterVar(routerData())).toEqual({
      session: { client_token: 'tok-1', client_ip: '10.0.0.9', session_id: 'sid-1' },
      headers: {
        host: '127.0.0.1:8000',
        origin: 'http://localhost:3000',
        upgrade: '',
        connection: '',
        cookie: '',
        pragma: '',
        cache_control: '',
        user_agent: 'Chromium',
        sec_websocket_version: '13',
        sec_websocket_key: '',
        sec_websocket_extensions: '',
        accept_encoding: '',
        accept_language: 'fr',
        raw_headers: {
          'accept-language': 'fr',
          'asgi-scope-client': '10.0.0.9',
          host: '127.0.0.1:8000',
          origin: 'http://localhost:3000',
          'sec-websocket-version': '13',
          'user-agent': 'Chromium',
        },
      },
      page: {
        host: 'http://localhost:3000',
        path: '/product/[id]',
        raw_path: '/product/7?x=1#top',
        full_path: 'http://localhost:3000/product/[id]',
        full_raw_path: 'http://localhost:3000/product/7?x=1#top',
        params: { id: '7', x: '1' },
      },
      url: {
        scheme: 'http',
        netloc: 'localhost:3000',
        origin: 'http://localhost:3000',
        path: '/product/7',
        query: 'x=1',
        query_parameters: { x: '1' },
        fragment: 'top',
        href: 'http://localhost:3000/product/7?x=1#top',
      },
      route_id: '/product/[id]',
    });
  });

  it('keeps the key order Reflex sends (raw_headers sorted by name)', () => {
    const value = buildRouterVar(routerData());
    expect(Object.keys(value)).toEqual(['session', 'headers', 'page', 'url', 'route_id']);
    expect(Object.keys((value.headers as { raw_headers: object }).raw_headers)).toEqual([...Object.keys((value.headers as { raw_headers: object }).raw_headers)].sort());
  });

  it('never carries the cookie or authorization headers', () => {
    const serialised = JSON.stringify(buildRouterVar(routerData()));
    expect(serialised).not.toContain('secret');
  });

  it("never carries what a proxy adds for the server: credentials by their names, the address chain, the app's own list", () => {
    // What oauth2-proxy, Cloudflare Access, API gateways and CDNs put on the requests they forward.
    const credentials = ['x-forwarded-access-token', 'X-Auth-Request-Access-Token', 'cf-access-jwt-assertion', 'x-api-key', 'x-amz-security-token', 'x-session-id', 'x-hub-signature', 'x-client-secret', 'x-auth-request-email', 'apikey'];
    // AWS ALB's and Azure App Service's authentication, frameworks' CSRF tokens: the words spelt as one with the rest.
    credentials.push('X-Amzn-Oidc-Accesstoken', 'X-Amzn-Oidc-Data', 'X-Amzn-Oidc-Identity', 'X-Ms-Client-Principal', 'X-Ms-Token-Aad-Id-Token', 'X-Csrftoken', 'X-Xsrf-Token', 'X-Sessionid', 'X-Authtoken', 'X-Accesstoken');
    const chain = ['forwarded', 'x-forwarded-for', 'x-real-ip'];
    const headers: Record<string, string> = { ...routerData().headers, 'x-origin-verify': 'cdn-shared', 'x-forwarded-proto': 'https', 'sec-websocket-key': 'nonce', 'x-requested-with': 'fetch' };
    for (const name of [...credentials, ...chain]) headers[name.toLowerCase()] = `secret-of-${name}`;
    const value = buildRouterVar(routerData({ headers }), new Set(['x-origin-verify']));
    const raw = (value.headers as { raw_headers: Record<string, string> }).raw_headers;
    expect(JSON.stringify(value)).not.toMatch(/secret|cdn-shared/);
    // What page code reads from Reflex's HeaderData stays.
    expect(raw).toMatchObject({ host: '127.0.0.1:8000', 'user-agent': 'Chromium', 'x-forwarded-proto': 'https', 'sec-websocket-key': 'nonce', 'x-requested-with': 'fetch', 'asgi-scope-client': '10.0.0.9' });
    expect((value.session as { client_ip: string }).client_ip).toBe('10.0.0.9');
    // Without the app's list, its own header is an ordinary one.
    expect(JSON.stringify(buildRouterVar(routerData({ headers })))).toContain('cdn-shared');
  });

  it("splits URLs as Python's urlsplit and parse_qsl do (blank values dropped, last value wins, %-runs decoded as UTF-8)", () => {
    expect(splitReflexUrl('http://localhost:3000/p?x=1&y=&z=a+b&z=%E2%9C%93#top')).toMatchObject({ query_parameters: { x: '1', z: '✓' }, fragment: 'top' });
    expect(splitReflexUrl('/cart?a=1')).toMatchObject({ scheme: '', netloc: '', origin: '://', path: '/cart', query: 'a=1' });
    expect(splitReflexUrl('HTTP://Ex.com')).toMatchObject({ scheme: 'http', netloc: 'Ex.com', path: '', origin: 'http://Ex.com' });
    expect(splitReflexUrl('http://h:1/p?bad=%zz%41&q')).toMatchObject({ query_parameters: { bad: '%zzA' } });
  });

  it('a client without an Origin header (not a browser) gets empty hosts, as with Reflex', () => {
    const value = buildRouterVar(routerData({ headers: { host: 'backend:8000' }, pathname: '/', asPath: '/' }));
    expect(value.page).toMatchObject({ host: '', full_path: '/', full_raw_path: '/' });
    expect(value.url).toMatchObject({ origin: '://', path: '/', href: '/' });
  });

  it('never throws and stays bounded, whatever the client and its headers sent', () => {
    const hostileText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('%', '%E2%9C', '__proto__', 'constructor', '%zz', '?#//'));
    fc.assert(
      fc.property(
        fc.dictionary(fc.oneof(hostileText, fc.constant('__proto__')), fc.oneof(hostileText, fc.anything()), { maxKeys: 200 }),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        (headers, pathname, asPath, query) => {
          const value = buildRouterVar({ headers: headers as Record<string, string>, pathname: pathname as string, asPath: asPath as string, query: query as Record<string, unknown>, token: 't', sid: 's', ip: '' });
          const raw = (value.headers as { raw_headers: Record<string, unknown> }).raw_headers;
          expect(Object.keys(raw).length).toBeLessThanOrEqual(100);
          for (const item of Object.values(raw)) expect(typeof item).toBe('string');
          expect(Object.getPrototypeOf({})).toBe(Object.prototype);
          expect(JSON.stringify(value).length).toBeLessThan(2_000_000);
        },
      ),
      { numRuns: 300 },
    );
    const long = 'x'.repeat(100_000);
    const value = buildRouterVar(routerData({ headers: { origin: long, 'user-agent': long }, asPath: long }));
    expect((value.headers as { user_agent: string }).user_agent.length).toBe(8192);
    expect((value.page as { raw_path: string }).raw_path.length).toBe(8192);
  });

  it('shares the parts that depend only on the page between clients, frozen, and never mixes pages up', () => {
    const first = buildRouterVar(routerData({ query: {}, asPath: '/product/7' }));
    const second = buildRouterVar(routerData({ query: {}, asPath: '/product/7', token: 'tok-2', sid: 'sid-2' }));
    expect(second.page).toBe(first.page);
    expect(second.url).toBe(first.url);
    expect(second.session).not.toBe(first.session);
    expect(Object.isFrozen(first.page) && Object.isFrozen((first.url as { query_parameters: object }).query_parameters)).toBe(true);
    // The same characters split differently between path and raw path are different pages.
    const a = buildRouterVar(routerData({ query: {}, pathname: '/a', asPath: '/bc' }));
    const b = buildRouterVar(routerData({ query: {}, pathname: '/a/b', asPath: 'c' }));
    expect(a.page).toMatchObject({ path: '/a', raw_path: '/bc' });
    expect(b.page).toMatchObject({ path: '/a/b', raw_path: 'c' });
    // A page with params keeps its own.
    expect(buildRouterVar(routerData()).page).not.toBe(buildRouterVar(routerData()).page);
  });
});

describe('routerVarShows', () => {
  it('tells whether a router var was built for the same page, URL and socket', () => {
    const built = buildRouterVar(routerData());
    expect(routerVarShows(built, routerData())).toBe(true);
    expect(routerVarShows(built, routerData({ headers: {} }))).toBe(true);
    expect(routerVarShows(built, routerData({ asPath: '/product/7?x=2#top' }))).toBe(false);
    expect(routerVarShows(built, routerData({ pathname: '/product/8' }))).toBe(false);
    expect(routerVarShows(built, routerData({ sid: 'sid-2' }))).toBe(false);
    for (const stored of [undefined, null, 'router', {}, { page: null }]) expect(routerVarShows(stored, routerData())).toBe(false);
  });
});

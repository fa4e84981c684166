import { describe, expect, it } from '@jest/globals';
import { OriginPolicy } from './origin-policy.js';

const request = (headers: Record<string, string>, encrypted = false) => ({ headers: { host: 'shop.example:8080', ...headers }, socket: { encrypted } });

describe('OriginPolicy', () => {
  it('allows the own origin (scheme, host and port), refuses any other, and lets non-browser clients through', () => {
    const policy = new OriginPolicy();
    expect(policy.check(request({ origin: 'http://shop.example:8080' }))).toEqual({ allowed: true });
    expect(policy.check(request({ origin: 'HTTP://SHOP.example:8080' }))).toEqual({ allowed: true });
    expect(policy.check(request({ origin: 'https://shop.example:8080' }, true))).toEqual({ allowed: true });
    for (const origin of ['https://shop.example:8080', 'http://shop.example', 'http://shop.example:8081', 'http://evil.example', 'null', 'garbage']) {
      expect(policy.check(request({ origin }))).toMatchObject({ allowed: false, origin, ownOrigin: 'http://shop.example:8080' });
    }
    expect(policy.check(request({}))).toEqual({ allowed: true });
    expect(policy.check({ headers: {} })).toEqual({ allowed: true });
    // The own origin, but the browser says the request was started by another site: refused.
    expect(policy.check(request({ origin: 'http://shop.example:8080', 'sec-fetch-site': 'cross-site' })).allowed).toBe(false);
  });

  it('without Origin, trusts Sec-Fetch-Site only for same-origin and user-typed requests', () => {
    const policy = new OriginPolicy({ allowedOrigins: ['http://localhost:3000'] });
    expect(policy.check(request({ 'sec-fetch-site': 'same-origin' })).allowed).toBe(true);
    expect(policy.check(request({ 'sec-fetch-site': 'none' })).allowed).toBe(true);
    expect(policy.check(request({ 'sec-fetch-site': 'same-site' }))).toMatchObject({ allowed: false, origin: 'Sec-Fetch-Site: same-site' });
    expect(policy.check(request({ 'sec-fetch-site': 'cross-site' })).allowed).toBe(false);
  });

  it('allows listed origins (normalised) and every origin with true', () => {
    const listed = new OriginPolicy({ allowedOrigins: ['http://localhost:3000/', 'https://App.example.com:443'] });
    expect(listed.check(request({ origin: 'http://localhost:3000', 'sec-fetch-site': 'same-site' })).allowed).toBe(true);
    expect(listed.check(request({ origin: 'https://app.example.com', 'sec-fetch-site': 'cross-site' })).allowed).toBe(true);
    expect(listed.check(request({ origin: 'http://localhost:3001' })).allowed).toBe(false);
    expect(listed.isListed('http://localhost:3000')).toBe(true);
    expect(listed.isListed('http://shop.example:8080')).toBe(false);
    const any = new OriginPolicy({ allowedOrigins: true });
    expect(any.check(request({ origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' })).allowed).toBe(true);
    expect(() => new OriginPolicy({ allowedOrigins: ['*'] })).toThrow(TypeError);
  });

  it('with trustProxy, takes scheme and host from the last X-Forwarded-Proto / X-Forwarded-Host entries', () => {
    const proxied = { origin: 'https://shop.example', host: 'app:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };
    expect(new OriginPolicy().check(request(proxied)).allowed).toBe(false);
    const policy = new OriginPolicy({ trustProxy: true });
    expect(policy.check(request(proxied)).allowed).toBe(true);
    expect(policy.ownOrigin(request({ 'x-forwarded-proto': 'http, https' }))).toBe('https://shop.example:8080');
    expect(policy.ownOrigin(request({ 'x-forwarded-proto': 'gopher' }))).toBe('http://shop.example:8080');
    expect(policy.ownOrigin({ headers: { host: 'evil.example/path' } })).toBeUndefined();
    expect(policy.ownOrigin({ headers: {} })).toBeUndefined();
  });

  it('answers Engine.IO allowRequest with an origin_not_allowed refusal', () => {
    const policy = new OriginPolicy();
    const answers: Array<[unknown, boolean]> = [];
    policy.allowRequest(request({ origin: 'http://evil.example' }) as never, (error, success) => answers.push([error, success]));
    policy.allowRequest(request({ origin: 'http://shop.example:8080' }) as never, (error, success) => answers.push([error, success]));
    expect(answers).toEqual([
      [expect.stringMatching(/^origin_not_allowed/), false],
      [null, true],
    ]);
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    expect(() => new OriginPolicy({ allowedOrigin: ['https://app.example'] } as never)).toThrow(
      'OriginPolicy: unknown option "allowedOrigin" (it takes "allowedOrigins", "trustProxy")',
    );
    expect(new OriginPolicy({ allowedOrigins: ['https://app.example'], trustProxy: true }).isListed('https://app.example')).toBe(true);
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { redirect } from './client-event.js';
import { redirectForLocation } from './redirect-location.js';

const base = { requestUrl: 'http://127.0.0.1:8000/cart?x=1', pageOrigin: 'http://localhost:3000' };
const payloadOf = (location: string) => redirectForLocation(location, base)?.payload;

describe('redirectForLocation (a middleware redirect, as state.js applies it)', () => {
  it('turns locations on the backend or the page origin into in-app paths, history replaced', () => {
    expect(redirectForLocation('/login?next=%2Fcart#f', base)).toEqual({ name: '_redirect', payload: { path: '/login?next=%2Fcart#f', external: false, popup: false, replace: true } });
    expect(payloadOf('login')).toMatchObject({ path: '/login' });
    expect(payloadOf('http://127.0.0.1:8000/login')).toMatchObject({ path: '/login' });
    expect(payloadOf('http://localhost:3000/account')).toMatchObject({ path: '/account' });
  });

  it('keeps other origins absolute (loaded in the same tab, never a new window)', () => {
    expect(payloadOf('https://sso.example/authorize?c=1')).toEqual({ path: 'https://sso.example/authorize?c=1', external: false, popup: false, replace: true });
    expect(payloadOf('//evil.example/x')).toMatchObject({ path: 'http://evil.example/x' });
  });

  it('refuses locations that are not http(s) URLs', () => {
    expect(redirectForLocation('javascript:alert(1)', base)).toBeUndefined();
    expect(redirectForLocation(' JaVa\tScRiPt:alert(1)', base)).toBeUndefined();
    expect(redirectForLocation('data:text/html,<script>1</script>', base)).toBeUndefined();
    expect(redirectForLocation('http://[::1', base)).toBeUndefined();
  });

  it('never throws, whatever the location and request', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.option(fc.string()), (location, requestUrl, pageOrigin) => {
        const event = redirectForLocation(location, { requestUrl, pageOrigin: pageOrigin ?? undefined });
        if (event) expect(typeof event.payload.path).toBe('string');
      }),
    );
  });
});

describe('redirect()', () => {
  it("sends Reflex's _redirect payload: path, external, popup, replace", () => {
    expect(redirect('/checkout')).toEqual({ name: '_redirect', payload: { path: '/checkout', external: false, popup: false, replace: false } });
    expect(redirect('https://docs.example', { external: true, popup: true })).toEqual({ name: '_redirect', payload: { path: 'https://docs.example', external: true, popup: true, replace: false } });
  });

  it('refuses URLs state.js would run instead of navigating to', () => {
    expect(() => redirect('javascript:alert(1)')).toThrow(TypeError);
    expect(() => redirect('data:text/html,x', { external: true })).toThrow(TypeError);
    expect(redirect('mailto:a@b.example').payload.path).toBe('mailto:a@b.example');
  });
});

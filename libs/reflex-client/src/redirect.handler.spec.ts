import { afterEach, describe, expect, it } from '@jest/globals';
import { defaultRedirectHandler, toRedirectOptions } from './redirect.handler.js';

describe('toRedirectOptions', () => {
  it('reads the flags, treating anything but true as false', () => {
    expect(toRedirectOptions({ path: '/x', external: true, popup: 'yes', replace: 1 })).toEqual({
      external: true,
      popup: false,
      replace: false,
    });
  });
});

describe('defaultRedirectHandler', () => {
  afterEach(() => {
    delete (globalThis as { window?: unknown }).window;
  });

  it('is undefined in Node', () => {
    expect(defaultRedirectHandler()).toBeUndefined();
  });

  it('navigates with location.assign / location.replace / window.open in a browser', () => {
    const calls: string[] = [];
    (globalThis as { window?: unknown }).window = {
      location: { assign: (url: string) => calls.push(`assign ${url}`), replace: (url: string) => calls.push(`replace ${url}`) },
      open: (url: string, target: string, features: string) => calls.push(`open ${url} ${target} ${features}`),
    };
    const redirect = defaultRedirectHandler()!;
    redirect('/a', { external: false, popup: false, replace: false });
    redirect('/b', { external: false, popup: false, replace: true });
    redirect('https://example.com', { external: true, popup: false, replace: false });
    redirect('https://example.com/p', { external: true, popup: true, replace: false });
    redirect('/c', { external: false, popup: true, replace: false });
    expect(calls).toEqual(['assign /a', 'replace /b', 'open https://example.com _blank noopener', 'open https://example.com/p _blank noopener,popup', 'assign /c']);
  });

  it('ignores redirects to URLs that would run code (javascript:, data:) or do not parse', () => {
    const calls: string[] = [];
    (globalThis as { window?: unknown }).window = {
      location: { href: 'https://shop.example/cart', assign: (url: string) => calls.push(`assign ${url}`), replace: (url: string) => calls.push(`replace ${url}`) },
      open: (url: string) => calls.push(`open ${url}`),
    };
    const redirect = defaultRedirectHandler()!;
    for (const external of [false, true]) {
      redirect('javascript:alert(document.cookie)', { external, popup: false, replace: false });
      redirect(' JavaScript:alert(1)', { external, popup: false, replace: true });
      redirect('data:text/html,<script>alert(1)</script>', { external, popup: false, replace: false });
      redirect('http://[broken', { external, popup: false, replace: false });
    }
    redirect('../checkout?x=1', { external: false, popup: false, replace: false });
    expect(calls).toEqual(['assign ../checkout?x=1']);
  });
});

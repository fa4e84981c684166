import { afterEach, describe, expect, it } from '@jest/globals';
import { buildRouterData } from './router-data.builder.js';

describe('buildRouterData', () => {
  afterEach(() => {
    delete (globalThis as { location?: unknown }).location;
  });

  it('defaults to / in Node', () => {
    expect(buildRouterData()).toEqual({ pathname: '/', asPath: '/', query: {} });
  });

  it('splits a page path into pathname, asPath and query', () => {
    expect(buildRouterData('/posts/42?x=1&tag=a&tag=b#top')).toEqual({
      pathname: '/posts/42',
      asPath: '/posts/42?x=1&tag=a&tag=b#top',
      query: { x: '1', tag: ['a', 'b'] },
    });
  });

  it('reads the browser location when no page is given', () => {
    (globalThis as { location?: unknown }).location = { pathname: '/shop', search: '?q=hat', hash: '' };
    expect(buildRouterData()).toEqual({ pathname: '/shop', asPath: '/shop?q=hat', query: { q: 'hat' } });
  });

  it('leaves out query keys the server refuses', () => {
    expect(buildRouterData('/?__proto__=x&constructor=y&ok=1').query).toEqual({ ok: '1' });
  });
});

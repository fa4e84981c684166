import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RoutePattern } from './route-pattern.js';

const match = (route: string, pathname: unknown) => {
  const params = RoutePattern.parse(route).match(pathname);
  return params === undefined ? undefined : { ...params };
};

describe('RoutePattern', () => {
  it('matches static routes, ignoring one leading and one trailing slash, the query and the fragment', () => {
    expect(match('/products', '/products')).toEqual({});
    expect(match('products/', '/products/')).toEqual({});
    expect(match('/products', '/products?page=2#top')).toEqual({});
    expect(match('/products', '/products/1')).toBeUndefined();
    expect(match('/products', '/Products')).toBeUndefined();
    expect(match('/products', '//products')).toBeUndefined();
  });

  it('reads the index as "/", "" or "index", and "/index" as the index page', () => {
    for (const route of ['/', '', 'index']) {
      expect(RoutePattern.parse(route).route).toBe('/');
      expect(match(route, '/')).toEqual({});
      expect(match(route, '/index')).toEqual({});
      expect(match(route, '')).toEqual({});
      expect(match(route, '/x')).toBeUndefined();
    }
  });

  it('gives a dynamic segment its (decoded) value', () => {
    expect(match('/product/[id]', '/product/42')).toEqual({ id: '42' });
    expect(match('/product/[id]', '/product/42/')).toEqual({ id: '42' });
    expect(match('/product/[id]', '/product/t%C3%A9a')).toEqual({ id: 'téa' });
    expect(match('/product/[id]', '/product/%E0%A4%A')).toEqual({ id: '%E0%A4%A' });
    expect(match('/product/[id]', '/product')).toBeUndefined();
    expect(match('/product/[id]', '/product/42/reviews')).toBeUndefined();
    expect(match('/shop/[shop]/product/[id]', '/shop/north/product/7')).toEqual({ shop: 'north', id: '7' });
  });

  it('lets an optional segment be there or not', () => {
    expect(match('/docs/[[page]]', '/docs')).toEqual({});
    expect(match('/docs/[[page]]', '/docs/intro')).toEqual({ page: 'intro' });
    expect(match('/docs/[[page]]', '/docs/intro/more')).toBeUndefined();
    expect(match('/[[lang]]/about', '/about')).toEqual({});
    expect(match('/[[lang]]/about', '/fr/about')).toEqual({ lang: 'fr' });
  });

  it('gives the catch-all the rest of the path as a list, and nothing when there is none', () => {
    expect(match('/files/[[...splat]]', '/files')).toEqual({});
    expect(match('/files/[[...splat]]', '/files/a')).toEqual({ splat: ['a'] });
    expect(match('/files/[[...splat]]', '/files/a/b%20c/')).toEqual({ splat: ['a', 'b c'] });
    expect(match('/files/[[...splat]]', '/filesystem')).toBeUndefined();
    expect(match('/[[...splat]]', '/anything/at/all')).toEqual({ splat: ['anything', 'at', 'all'] });
  });

  it('never matches what is not a string', () => {
    for (const value of [undefined, null, 42, {}, ['/'], true]) expect(match('/', value)).toBeUndefined();
  });

  it('orders routes as Reflex does: fixed, then arguments, then optional ones, then catch-alls', () => {
    const order = ['/[[...splat]]', '/docs/[[page]]', '/product/[id]', '/product/new']
      .map((route) => RoutePattern.parse(route))
      .sort((a, b) => a.specificity[0] - b.specificity[0] || a.specificity[1] - b.specificity[1] || a.specificity[2] - b.specificity[2])
      .map((pattern) => pattern.route);
    expect(order).toEqual(['/product/new', '/product/[id]', '/docs/[[page]]', '/[[...splat]]']);
  });

  it('gives routes that differ only in argument names the same shape', () => {
    expect(RoutePattern.parse('/product/[id]').shape).toBe(RoutePattern.parse('product/[pid]/').shape);
    expect(RoutePattern.parse('/product/[id]').shape).not.toBe(RoutePattern.parse('/product/[[id]]').shape);
  });

  it('refuses the routes Reflex refuses, naming the part', () => {
    expect(() => RoutePattern.parse('/about.html')).toThrow(/"about\.html" is not valid/);
    expect(() => RoutePattern.parse('/product/[1d]')).toThrow(/"\[1d\]" is not valid/);
    expect(() => RoutePattern.parse('/files/[...rest]')).toThrow(/only "\[\[...splat\]\]"/);
    expect(() => RoutePattern.parse('/files/[[...splat]]/x')).toThrow(/must be the last part/);
    expect(() => RoutePattern.parse('/a/[id]/b/[id]')).toThrow(/names the argument "id" twice/);
    expect(() => RoutePattern.parse('/a//b')).toThrow(/"" is not valid/);
    expect(() => RoutePattern.parse(42 as unknown as string)).toThrow(/must be a string/);
  });

  it('never throws on any pathname, and a match only holds strings or lists of strings', () => {
    const patterns = ['/', '/products', '/product/[id]', '/docs/[[page]]', '/[[lang]]/x/[[page]]', '/files/[[...splat]]', '/[[...splat]]'].map((route) =>
      RoutePattern.parse(route),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webPath(), fc.stringMatching(/^[/a-z%?#.]{0,40}$/), fc.anything()), (pathname) => {
        for (const pattern of patterns) {
          const params = pattern.match(pathname);
          if (params === undefined) continue;
          for (const value of Object.values(params)) {
            expect(typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'))).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('bounds the work on a huge pathname', () => {
    const pattern = RoutePattern.parse('/[[a]]/[[b]]/[[c]]/[[d]]/x');
    expect(pattern.match('/'.repeat(1_000_000))).toBeUndefined();
    expect(pattern.match(`/${'a/'.repeat(100_000)}`)).toBeUndefined();
  });
});

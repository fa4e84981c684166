import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MAX_PATHNAME_LENGTH, MAX_PATHNAME_QUERY_PARAMS, splitPathname } from './router-path.js';

const plain = (value: Record<string, unknown>) => ({ ...value });

describe('splitPathname', () => {
  it('splits a query off the path', () => {
    const { path, query } = splitPathname('/products?page=2', {});
    expect(path).toBe('/products');
    expect(plain(query)).toEqual({ page: '2' });
  });

  it('merges with router_data.query, which wins on conflicts; repeated keys become arrays', () => {
    const { query } = splitPathname('/p?page=2&tag=a&tag=b&sort-by=price', { page: '3', q: 'x' });
    expect(plain(query)).toEqual({ page: '3', tag: ['a', 'b'], sort_by: 'price', q: 'x' });
  });

  it('keeps a pathname without a query as it is, with router_data.query itself', () => {
    const query = { a: 1 };
    const split = splitPathname('/cart', query);
    expect(split.path).toBe('/cart');
    expect(split.query).toBe(query);
  });

  it('drops a fragment, and reads an empty path as /', () => {
    expect(splitPathname('/docs#intro?x=1', {}).path).toBe('/docs');
    expect(plain(splitPathname('/docs?x=1#top', {}).query)).toEqual({ x: '1' });
    expect(splitPathname('?x=1', {}).path).toBe('/');
    expect(splitPathname('', {}).path).toBe('/');
  });

  it('never lets a query key reach a prototype', () => {
    const { query } = splitPathname('/p?__proto__=x&constructor=y&prototype=z&ok=1', {});
    expect(plain(query)).toEqual({ ok: '1' });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('bounds what the client sends: path length and number of query parameters', () => {
    const long = splitPathname(`/${'a'.repeat(MAX_PATHNAME_LENGTH * 2)}`, {});
    expect(long.path.length).toBeLessThanOrEqual(MAX_PATHNAME_LENGTH);
    const many = Array.from({ length: MAX_PATHNAME_QUERY_PARAMS + 50 }, (_, i) => `k${i}=v`).join('&');
    expect(Object.keys(splitPathname(`/p?${many}`, {}).query)).toHaveLength(MAX_PATHNAME_QUERY_PARAMS);
  });

  it('never throws, and the path never carries ? or #, whatever string arrives', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), (pathname, sent) => {
        const { path, query } = splitPathname(pathname, sent);
        expect(path.includes('?')).toBe(false);
        expect(path.includes('#')).toBe(false);
        expect(path.length).toBeGreaterThan(0);
        for (const key of Object.keys(sent)) expect(query[key]).toBe(sent[key]);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom('/', '?', '&', '=', '%', '#', '-', 'a', '__proto__', '%zz', '\u0000', '\ud800'), { maxLength: 60 }), (parts) => {
        const { path } = splitPathname(parts.join(''), {});
        expect(path.includes('?')).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { acceptsPage } from './page-acceptance.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('acceptsPage', () => {
  it('gives the page to browsers, to requests that accept anything, and to requests without Accept', () => {
    for (const accept of [BROWSER, '*/*', 'text/*', 'text/html', undefined, '', '  ', 'text/html, application/json', 'application/json;q=0.5, text/html']) {
      expect([accept, acceptsPage(accept)]).toEqual([accept, true]);
    }
  });

  it('keeps JSON requests off it, +json types included', () => {
    for (const accept of ['application/json', 'application/problem+json', 'application/vnd.api+json', 'application/json, text/plain, */*']) {
      expect([accept, acceptsPage(accept)]).toEqual([accept, false]);
    }
  });

  it('reads q-values: text/html;q=0 refuses the page, and JSON preferred to HTML wins', () => {
    for (const accept of [
      'text/html;q=0',
      'text/html;q=0, */*',
      '*/*, text/html; q=0',
      'application/json, text/html;q=0',
      'text/html;q=0.1, application/json',
      'application/json;q=0.9, */*;q=0.8',
      'text/*;q=0, */*',
      'image/png',
    ]) {
      expect([accept, acceptsPage(accept)]).toEqual([accept, false]);
    }
  });

  it('refuses the page whenever text/html is given q=0, whatever other ranges the field lists', () => {
    const range = fc.constantFrom('*/*', 'text/*', 'application/json', 'application/xhtml+xml', 'image/*');
    const q = fc.constantFrom('', ';q=1', ';q=0.5', ';q=0.001');
    fc.assert(
      fc.property(fc.array(fc.tuple(range, q), { maxLength: 6 }), fc.nat(6), (ranges, at) => {
        const items = ranges.map(([type, weight]) => `${type}${weight}`);
        items.splice(Math.min(at, items.length), 0, 'text/html;q=0');
        return !acceptsPage(items.join(', '));
      }),
    );
  });

  it('answers any field without throwing, in time linear in its length', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (accept) => typeof acceptsPage(accept) === 'boolean'));
    // A 16 KiB field of distinct +json types (Node's header limit) costs two candidates, not one per type.
    const wide = Array.from({ length: 700 }, (_, i) => `application/x${i}+json;q=0.${i % 9}`).join(',');
    expect(acceptsPage(wide)).toBe(false);
  });
});

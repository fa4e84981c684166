import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { likelyMisspelt } from './label-typo.js';

describe('likelyMisspelt', () => {
  const registered = ['shop.order', 'shop.product'];

  it('finds the registered label a few edits away, or naming the same model without its app', () => {
    expect(likelyMisspelt('shop.prodcut', registered)).toBe('shop.product');
    expect(likelyMisspelt('Shop.Product', registered)).toBe('shop.product');
    expect(likelyMisspelt('shop.products', registered)).toBe('shop.product');
    expect(likelyMisspelt('shopproduct', registered)).toBe('shop.product');
    expect(likelyMisspelt('product', registered)).toBe('shop.product');
    expect(likelyMisspelt('shop.ordr', registered)).toBe('shop.order');
  });

  it('leaves a label far from every registered one alone (one the app publishes itself)', () => {
    expect(likelyMisspelt('shop.weather_feed', registered)).toBeUndefined();
    expect(likelyMisspelt('billing.invoice', registered)).toBeUndefined();
    expect(likelyMisspelt('other.product', registered)).toBeUndefined();
    expect(likelyMisspelt('shop.product', [])).toBeUndefined();
  });

  it('names only a registered label, and always one a single edit away', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (label, other) => {
        const found = likelyMisspelt(label, [other]);
        if (found !== undefined) expect(found).toBe(other);
        // Any single edit of a registered label is found.
        if (other.length > 0) expect(likelyMisspelt(`${other}x`, [other])).toBe(other);
      }),
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import { getLiveLists, LiveList, type LiveListOptions } from './live-list.decorator.js';

/** Declares a state class with one live list, as an app's module does when it is loaded. */
function declare(label: string, options?: LiveListOptions): object {
  class ListState {
    products: unknown[] = [];
  }
  LiveList(label, options)(ListState.prototype, 'products');
  return ListState;
}

describe('@LiveList options', () => {
  // Before: each was accepted, and the list then ignored every change without an error anywhere (no change can carry
  // such a label; rows are matched by row[key]; the string 'false' made the list paginated).
  it.each([
    ['an empty label', '', undefined, /@LiveList: the label must be a non-empty string of at most 255 characters/],
    ['a label no ModelChange can carry', 'x'.repeat(256), undefined, /at most 255 characters.*\(256 characters\)/],
    ['a key that is not a field name', 'shop.product', { key: 7 }, /@LiveList\('shop\.product'\): key must be the name of the row field/],
    ['an empty key', 'shop.product', { key: '' }, /key must be the name of the row field.*got ""/],
    ['paginated as a string', 'shop.product', { paginated: 'false' }, /paginated must be true, false or a function.*got "false"/],
  ])('refuses %s when the state class is declared, naming the option', (_case, label, options, message) => {
    expect(() => declare(label, options as LiveListOptions)).toThrow(message);
  });

  it('keeps valid options', () => {
    const paginated = (state: object) => Boolean(state);
    expect(getLiveLists(declare('shop.product', { key: 'sku', paginated }))).toEqual([
      { property: 'products', label: 'shop.product', key: 'sku', paginated },
    ]);
    expect(getLiveLists(declare('x'.repeat(255)))).toEqual([{ property: 'products', label: 'x'.repeat(255), key: 'id', paginated: false }]);
  });
});

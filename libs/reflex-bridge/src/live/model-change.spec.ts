import { describe, expect, it } from '@jest/globals';
import { ModelChange } from './model-change.js';

describe('ModelChange', () => {
  it('exposes its fields and the action helpers', () => {
    const change = new ModelChange('shop.product', 'created', 42);
    expect(change).toMatchObject({ modelLabel: 'shop.product', action: 'created', pk: 42 });
    expect([change.isCreate, change.isUpdate, change.isDelete]).toEqual([true, false, false]);
    expect(new ModelChange('shop.product', 'deleted', 'a').isDelete).toBe(true);
    expect(new ModelChange('shop.product', 'updated', 1).isUpdate).toBe(true);
  });

  it('round-trips through JSON, with data and origin only when present', () => {
    const bare = new ModelChange('shop.product', 'updated', 7);
    expect(bare.toJSON()).toEqual({ modelLabel: 'shop.product', action: 'updated', pk: 7 });
    expect(JSON.stringify(bare)).toBe('{"modelLabel":"shop.product","action":"updated","pk":7}');

    const full = new ModelChange('shop.order', 'created', 'o-1', { total: 3.5, items: ['a'] }, { publisher: 'p', seq: 3 });
    const back = ModelChange.fromJSON(JSON.parse(JSON.stringify(full)));
    expect(back).toBeInstanceOf(ModelChange);
    expect(back.toJSON()).toEqual(full.toJSON());
    expect(back.origin).toEqual({ publisher: 'p', seq: 3 });
  });

  it('ignores unknown fields so newer publishers can add some', () => {
    const change = ModelChange.fromJSON({ modelLabel: 'a.b', action: 'deleted', pk: 1, future: true });
    expect(change.toJSON()).toEqual({ modelLabel: 'a.b', action: 'deleted', pk: 1 });
  });

  it('withOrigin returns a stamped copy and leaves the original alone', () => {
    const change = new ModelChange('a.b', 'created', 1);
    const stamped = change.withOrigin({ publisher: 'x', seq: 1 });
    expect(stamped.origin).toEqual({ publisher: 'x', seq: 1 });
    expect(change.origin).toBeUndefined();
  });

  it.each([
    ['a string', '{"modelLabel":"a.b"}', /expected an object/],
    ['null', null, /expected an object/],
    ['an array', [], /expected an object/],
    ['a missing label', { action: 'created', pk: 1 }, /"modelLabel" must be a non-empty string/],
    ['an empty label', { modelLabel: ' ', action: 'created', pk: 1 }, /"modelLabel"/],
    ['an unknown action', { modelLabel: 'a.b', action: 'moved', pk: 1 }, /"action" must be "created", "updated", "deleted" or "refetch", got "moved"/],
    ['an object pk', { modelLabel: 'a.b', action: 'created', pk: { id: 1 } }, /"pk" must be a string or a finite number/],
    ['a null pk', { modelLabel: 'a.b', action: 'created', pk: null }, /"pk"/],
    ['array data', { modelLabel: 'a.b', action: 'created', pk: 1, data: [1] }, /"data" must be a plain object/],
    ['a bad origin', { modelLabel: 'a.b', action: 'created', pk: 1, origin: { publisher: 'p', seq: 0 } }, /"origin" must be/],
    ['an origin without publisher', { modelLabel: 'a.b', action: 'created', pk: 1, origin: { seq: 2 } }, /"origin"/],
    // Receivers remember each publisher id (up to 10,000 of them): ids of 7,900 characters would keep some 80 MB.
    ['a publisher id over 128 characters', { modelLabel: 'a.b', action: 'created', pk: 1, origin: { publisher: 'p'.repeat(129), seq: 1 } }, /"origin"/],
  ])('fromJSON refuses %s, naming the field', (_, value, message) => {
    expect(() => ModelChange.fromJSON(value)).toThrow(TypeError);
    expect(() => ModelChange.fromJSON(value)).toThrow(message);
  });

  it('accepts a publisher id of 128 characters', () => {
    const origin = { publisher: 'p'.repeat(128), seq: 1 };
    expect(ModelChange.fromJSON({ modelLabel: 'a.b', action: 'created', pk: 1, origin }).origin).toEqual(origin);
  });

  it('validates in the constructor too (plain-JS callers)', () => {
    expect(() => new ModelChange('a.b', 'nope' as never, 1)).toThrow(/"action"/);
    expect(() => new ModelChange('a.b', 'created', Number.NaN)).toThrow(/"pk" must be a string or a finite number, got NaN$/);
    expect(() => new ModelChange('a.b', 'created', Number('12abc'))).toThrow(/got NaN$/);
    expect(() => new ModelChange('a.b', 'created', 1 / 0)).toThrow(/got Infinity$/);
    expect(() => new ModelChange('', 'created', 1)).toThrow(/"modelLabel"/);
    expect(() => new ModelChange('a.b', 'created', 1, new Date() as never)).toThrow(/"data"/);
  });
});

import { describe, expect, it } from '@jest/globals';
import { StateStore, stripFieldMarker } from './state.store.js';

const ROOT = 'reflex___state____state';
const COUNTER = `${ROOT}.counter_state`;

describe('stripFieldMarker', () => {
  it('removes the _rx_state_ suffix and leaves other keys alone', () => {
    expect(stripFieldMarker('count_rx_state_')).toBe('count');
    expect(stripFieldMarker('is_hydrated_rx_state_')).toBe('is_hydrated');
    expect(stripFieldMarker('plain')).toBe('plain');
    expect(stripFieldMarker('_rx_state_')).toBe('_rx_state_');
  });
});

describe('StateStore', () => {
  it('returns undefined for a state no delta has mentioned', () => {
    const store = new StateStore();
    expect(store.get(COUNTER)).toBeUndefined();
    expect(store.has(COUNTER)).toBe(false);
  });

  it('applies a delta and exposes the vars without the marker', () => {
    const store = new StateStore();
    const touched = store.apply({
      [ROOT]: { is_hydrated_rx_state_: false },
      [COUNTER]: { count_rx_state_: 3, label_rx_state_: 'clicks' },
    });
    expect(touched).toEqual([ROOT, COUNTER]);
    expect(store.get(COUNTER)).toEqual({ count: 3, label: 'clicks' });
    expect(store.get(ROOT)).toEqual({ is_hydrated: false });
    expect(store.getVar(COUNTER, 'count')).toBe(3);
    expect(store.names()).toEqual([ROOT, COUNTER]);
  });

  it('shallow-merges each state: vars missing from a delta keep their value, nested values are replaced whole', () => {
    const store = new StateStore();
    store.apply({ [COUNTER]: { count_rx_state_: 1, label_rx_state_: 'a', meta_rx_state_: { x: 1, y: 2 } } });
    store.apply({ [COUNTER]: { count_rx_state_: 2, meta_rx_state_: { x: 5 } } });
    expect(store.get(COUNTER)).toEqual({ count: 2, label: 'a', meta: { x: 5 } });
  });

  it('keeps other states untouched and reports only the states in the delta', () => {
    const store = new StateStore();
    store.apply({ [ROOT]: { is_hydrated_rx_state_: true }, [COUNTER]: { count_rx_state_: 1 } });
    expect(store.apply({ [COUNTER]: { count_rx_state_: 9 } })).toEqual([COUNTER]);
    expect(store.get(ROOT)).toEqual({ is_hydrated: true });
  });

  it('hands out copies, so changing a returned object does not change the store', () => {
    const store = new StateStore();
    store.apply({ [COUNTER]: { count_rx_state_: 1 } });
    const view = store.get<{ count: number }>(COUNTER)!;
    view.count = 100;
    expect(store.get(COUNTER)).toEqual({ count: 1 });
  });

  it('ignores entries that are not objects', () => {
    const store = new StateStore();
    const touched = store.apply({ [COUNTER]: null, other: [1, 2] } as unknown as Record<string, Record<string, unknown>>);
    expect(touched).toEqual([]);
    expect(store.names()).toEqual([]);
  });

  it('stores a __proto__ var as data without touching any prototype', () => {
    const store = new StateStore();
    const delta = JSON.parse(`{"${COUNTER}": {"__proto__": {"polluted": true}, "count_rx_state_": 1}}`);
    store.apply(delta);
    const view = store.get(COUNTER)!;
    expect(Object.getPrototypeOf(view)).toBe(Object.prototype);
    expect(Object.hasOwn(view, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('gives a snapshot of all states and can be cleared', () => {
    const store = new StateStore();
    store.apply({ [ROOT]: { is_hydrated_rx_state_: true }, [COUNTER]: { count_rx_state_: 4 } });
    expect(store.snapshot()).toEqual({ [ROOT]: { is_hydrated: true }, [COUNTER]: { count: 4 } });
    store.clear();
    expect(store.snapshot()).toEqual({});
  });
});

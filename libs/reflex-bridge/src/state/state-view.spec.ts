import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Type } from '@nestjs/common';
import type { StateDefinition } from './state-definition.js';
import { peekVar, StateView, toWireVars } from './state-view.js';

interface Row {
  id: number;
  name: string;
}

/** The service a state would get injected: reachable from handlers through the view's target. */
class PriceService {
  net(gross: number): number {
    return gross / 1.2;
  }
}

class CartState {
  items: Row[] = [];
  discount = 0;
  rows: Row[] = [];
  note: string | null = null;
  _audit: string[] = [];

  constructor(readonly prices: PriceService) {}

  get count(): number {
    return this.items.length;
  }

  get label(): string {
    // Reads `note` only when there are items: the dependency is discovered when that branch runs.
    return this.items.length === 0 ? 'empty' : `${this.items.length} item(s)${this.note ? `, ${this.note}` : ''}`;
  }

  get net(): number {
    return this.prices.net(100 - this.discount);
  }

  add(row: Row): void {
    this.items.push(row);
  }
}

/** The definition the registry would build for CartState (its own fields as vars, its getters as computed). */
function cartDefinition(): StateDefinition {
  const instance = new CartState(new PriceService());
  const computed = new Map<string, (this: object) => unknown>();
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(CartState.prototype))) {
    if (descriptor.get) computed.set(key, descriptor.get);
  }
  return {
    cls: CartState as Type,
    name: 'cart_state',
    fullName: 'reflex___state____state.cart_state',
    instance,
    vars: new Map(Object.entries(instance).filter(([key]) => key !== 'prices')),
    computed,
    computedDeps: new Map(),
    handlers: new Map(),
  };
}

const rows = (n: number): Row[] => Array.from({ length: n }, (_, id) => ({ id, name: `row ${id}` }));

describe('StateView', () => {
  // Jest's node environment hands test code the host realm's structuredClone: its copies carry the host's
  // Array.prototype and Object.prototype, not this test realm's, so isDeepStrictEqual (which compares prototypes)
  // would call every copied object "changed". An app runs in one realm; so do these tests, with a clone made in
  // this realm (a JSON round trip is exact for the JSON data states hold).
  const hostStructuredClone = globalThis.structuredClone;
  beforeAll(() => {
    globalThis.structuredClone = ((value: unknown) => JSON.parse(JSON.stringify(value))) as typeof structuredClone;
  });
  afterAll(() => {
    globalThis.structuredClone = hostStructuredClone;
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('copy on access', () => {
    it('lets a handler change its copy without touching the stored state or the class defaults', () => {
      const definition = cartDefinition();
      const stored = { items: [{ id: 1, name: 'tea' }], discount: 5 };
      const view = new StateView(definition, stored);
      const cart = view.target as unknown as CartState;

      cart.items.push({ id: 2, name: 'cake' });
      cart.discount = 10;
      expect(cart.items).toEqual([
        { id: 1, name: 'tea' },
        { id: 2, name: 'cake' },
      ]);
      expect(cart.discount).toBe(10);
      expect(stored).toEqual({ items: [{ id: 1, name: 'tea' }], discount: 5 });

      // A var the store has not seen starts from the class's initial value, copied too.
      cart.rows.push({ id: 9, name: 'x' });
      expect((definition.instance as CartState).rows).toEqual([]);
      expect(definition.vars.get('rows')).toEqual([]);
    });

    it('peekVar reads the stored value itself (no copy), then the working value once the var is assigned', () => {
      const stored = { items: [{ id: 1, name: 'tea' }] };
      const view = new StateView(cartDefinition(), stored);
      const cart = view.target as unknown as CartState;
      expect(peekVar(cart, 'items')).toBe(stored.items);
      const next = [...stored.items, { id: 2, name: 'cake' }];
      cart.items = next;
      expect(peekVar(cart, 'items')).toBe(next);
      expect(view.changes()).toEqual({ items: next });
      // A var the store lacks peeks as its initial value; a plain object's property is read as is.
      expect(peekVar(cart, 'rows')).toEqual([]);
      expect(peekVar({ rows: [1] }, 'rows')).toEqual([1]);
    });

    it('returns the same copy for every read within the event', () => {
      const view = new StateView(cartDefinition(), { items: [{ id: 1, name: 'tea' }] });
      const cart = view.target as unknown as CartState;
      expect(cart.items).toBe(cart.items);
    });

    it('gives each client its own copy of the same state class', () => {
      const definition = cartDefinition();
      const a = new StateView(definition, undefined).target as unknown as CartState;
      const b = new StateView(definition, undefined).target as unknown as CartState;
      a.items.push({ id: 1, name: 'tea' });
      a.discount = 3;
      expect(b.items).toEqual([]);
      expect(b.discount).toBe(0);
    });

    it("runs the class's methods and reaches its injected services through the target", () => {
      const view = new StateView(cartDefinition(), undefined);
      const cart = view.target as unknown as CartState;
      cart.add({ id: 7, name: 'jam' });
      expect(view.changes()).toEqual({ items: [{ id: 7, name: 'jam' }] });
      expect(cart.prices).toBeInstanceOf(PriceService);
    });
  });

  describe('changes()', () => {
    it('is empty when the handler changed nothing, even after reading every var', () => {
      const view = new StateView(cartDefinition(), { items: [{ id: 1, name: 'tea' }], discount: 5 });
      const cart = view.target as unknown as CartState;
      void [cart.items, cart.discount, cart.rows, cart.note, cart._audit];
      expect(view.changes()).toEqual({});
    });

    it('reports vars changed in place or reassigned, and not those set to an equal value', () => {
      const view = new StateView(cartDefinition(), { items: [{ id: 1, name: 'tea' }], discount: 5, note: 'hi' });
      const cart = view.target as unknown as CartState;
      cart.items.push({ id: 2, name: 'cake' });
      cart.discount = 5;
      cart.note = 'bye';
      cart.rows = [];
      expect(view.changes()).toEqual({
        items: [
          { id: 1, name: 'tea' },
          { id: 2, name: 'cake' },
        ],
        note: 'bye',
      });
    });

    it('includes backend vars, which toWireVars then keeps off the wire', () => {
      const view = new StateView(cartDefinition(), undefined);
      const cart = view.target as unknown as CartState;
      cart._audit.push('opened');
      cart.discount = 1;
      const changes = view.changes();
      expect(changes).toEqual({ _audit: ['opened'], discount: 1 });
      expect(toWireVars(changes)).toEqual({ discount_rx_state_: 1 });
    });
  });

  describe('rebase()', () => {
    it('makes the committed vars the baseline of the next step', () => {
      const view = new StateView(cartDefinition(), { discount: 1 });
      const cart = view.target as unknown as CartState;
      cart.discount = 2;
      cart.items.push({ id: 1, name: 'tea' });
      const committed = { discount: 2, items: [{ id: 1, name: 'tea' }] };
      view.rebase(committed);

      expect(view.changes()).toEqual({});
      expect(cart.discount).toBe(2);
      cart.discount = 3;
      expect(view.changes()).toEqual({ discount: 3 });
    });

    it('copies again after a rebase, so the next step of a streaming handler neither alters nor loses the commit', () => {
      const view = new StateView(cartDefinition(), undefined);
      const cart = view.target as unknown as CartState;
      cart.items.push({ id: 1, name: 'tea' });
      // What the pipeline commits after a yield: the changed vars themselves, over the stored ones.
      const committed = Object.assign({}, view.allVars(), view.changes()) as Record<string, unknown>;
      view.rebase(committed);

      cart.items.push({ id: 2, name: 'cake' });
      expect(committed['items']).toEqual([{ id: 1, name: 'tea' }]);
      expect(view.changes()).toEqual({
        items: [
          { id: 1, name: 'tea' },
          { id: 2, name: 'cake' },
        ],
      });
    });
  });

  describe('allVars()', () => {
    it('gives every var for hydrate: stored values, and initial values for vars the store lacks', () => {
      const view = new StateView(cartDefinition(), { discount: 4, note: 'hi' });
      expect(view.allVars()).toEqual({ items: [], discount: 4, rows: [], note: 'hi', _audit: [] });
      expect(view.changes()).toEqual({});
    });
  });

  describe('computed vars', () => {
    it('evaluates every getter against the current values, unsaved changes included', () => {
      const view = new StateView(cartDefinition(), { items: [{ id: 1, name: 'tea' }], discount: 40 });
      const cart = view.target as unknown as CartState;
      expect(view.computedValues()).toEqual({ count: 1, label: '1 item(s)', net: 50 });
      cart.items.push({ id: 2, name: 'cake' });
      expect(view.computedValues()).toEqual({ count: 2, label: '2 item(s)', net: 50 });
    });

    it('records the vars each getter reads, and grows them when another branch runs', () => {
      const definition = cartDefinition();
      new StateView(definition, undefined).computedValues();
      expect(definition.computedDeps.get('count')).toEqual(new Set(['items']));
      expect(definition.computedDeps.get('label')).toEqual(new Set(['items']));
      expect(definition.computedDeps.get('net')).toEqual(new Set(['discount']));

      new StateView(definition, { items: [{ id: 1, name: 'tea' }] }).computedValues();
      expect(definition.computedDeps.get('label')).toEqual(new Set(['items', 'note']));
    });

    it('re-evaluates only the getters that depend on the changed vars', () => {
      const definition = cartDefinition();
      new StateView(definition, undefined).computedValues(); // learns the dependencies
      const view = new StateView(definition, { items: [{ id: 1, name: 'tea' }] });
      const cart = view.target as unknown as CartState;
      cart.discount = 10;
      expect(view.computedValues(['discount'])).toEqual({ net: 75 });
      expect(view.computedValues(['items'])).toEqual({ count: 1, label: '1 item(s)' });
      expect(view.computedValues(['rows'])).toEqual({});
    });

    it('evaluates a getter whose dependencies are not known yet whatever changed', () => {
      const view = new StateView(cartDefinition(), undefined);
      expect(Object.keys(view.computedValues(['rows'])).sort()).toEqual(['count', 'label', 'net']);
    });
  });

  describe('large vars', () => {
    it('never copies or compares a list the event did not touch', () => {
      const big = rows(10_000);
      const view = new StateView(cartDefinition(), { rows: big, discount: 0, items: [] });
      const clone = jest.spyOn(globalThis, 'structuredClone');
      const cart = view.target as unknown as CartState;

      cart.discount = 5;
      cart.items.push({ id: 1, name: 'tea' });
      expect(view.changes()).toEqual({ discount: 5, items: [{ id: 1, name: 'tea' }] });
      expect(view.computedValues(['discount'])).toHaveProperty('net');

      // Only `items` was copied; the 10,000 rows were not, and stay the stored array itself.
      expect(clone).toHaveBeenCalledTimes(1);
      expect(clone.mock.calls.some(([value]) => value === big)).toBe(false);
      expect(view.allVars()['rows']).toBe(big);
    });
  });
});

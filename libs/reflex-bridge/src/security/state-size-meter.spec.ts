import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CONTAINER_BYTES, MAX_VALUE_DEPTH, REMEMBERED_MIN_CHARS, SMALL_VALUE_CHARS, StateSizeMeter } from './state-size-meter.js';
import type { StoredState } from '../state/store/state-store.js';

const vars = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
const tree = fc.dictionary(fc.constantFrom('root', 'root.a', 'root.b'), vars, { maxKeys: 3 }) as fc.Arbitrary<StoredState>;
/** One event of a run: the state it replaces, the vars it sets, and whether it was measured (see `mayGrow`). */
const step = fc.tuple(fc.constantFrom('root', 'root.a', 'root.c'), vars, fc.boolean());

describe('StateSizeMeter', () => {
  it('measures about the JSON length of a state, and each object and array as the memory it holds beyond it', () => {
    const state = { root: { is_hydrated: true, name: 'x'.repeat(1000) }, 'root.list': { rows: Array.from({ length: 100 }, (_, i) => ({ id: i, name: `row ${i}` })) } };
    const size = new StateSizeMeter().sizeOf(state);
    const json = JSON.stringify(state).length;
    expect(size).toBeGreaterThan(json);
    expect(size).toBeLessThan(json * 1.8);
    // A list of empty objects: 3 bytes each as JSON, tens of bytes each in V8's heap.
    const empties = { root: { rows: Array.from({ length: 1000 }, () => ({})) } };
    expect(new StateSizeMeter().sizeOf(empties)).toBeGreaterThanOrEqual(1000 * (CONTAINER_BYTES + 3));
  });

  it('says a change may grow the state only when it sets an object or a long string', () => {
    const meter = new StateSizeMeter();
    expect(meter.mayGrow({ count: 1, flag: true, label: 'x'.repeat(SMALL_VALUE_CHARS), nothing: null })).toBe(false);
    expect(meter.mayGrow({ count: 1, label: 'x'.repeat(SMALL_VALUE_CHARS + 1) })).toBe(true);
    expect(meter.mayGrow({ rows: [] })).toBe(true);
    expect(meter.mayGrow({ row: {} })).toBe(true);
  });

  it('measures a tree the same whether its parts were seen before or not', () => {
    fc.assert(
      fc.property(tree, fc.constantFrom('root', 'root.a', 'root.c'), vars, (previous, name, changes) => {
        const meter = new StateSizeMeter();
        meter.sizeOf(previous);
        const next = { ...previous, [name]: { ...(previous[name] ?? {}), ...changes } };
        expect(meter.sizeOf(next)).toBe(new StateSizeMeter().sizeOf(next));
      }),
      { numRuns: 500 },
    );
  });

  it('does not walk a large value the commit left alone', () => {
    const meter = new StateSizeMeter();
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `row ${i}` }));
    const previous: StoredState = { 'root.list': { rows, count: 0 } };
    const full = meter.sizeOf(previous);
    // A getter on a row would run if the meter walked the list again.
    let walked = false;
    Object.defineProperty(rows[0], 'probe', { enumerable: true, get: () => ((walked = true), 1) });
    const next = { 'root.list': { ...previous['root.list'], count: 1 } };
    expect(meter.sizeOf(next)).toBe(full);
    expect(walked).toBe(false);
  });

  it('remembers only the large objects of a tree it walks', () => {
    const meter = new StateSizeMeter();
    const small = { theme: 'light', pageSize: 20 };
    const large = { text: 'x'.repeat(REMEMBERED_MIN_CHARS) };
    const state: StoredState = { 'root.a': { small, large } };
    const size = meter.sizeOf(state);
    // A getter runs when the meter walks an object again: the small one is walked, the large one is not.
    let walkedSmall = false;
    let walkedLarge = false;
    Object.defineProperty(small, 'probe', { enumerable: true, get: () => ((walkedSmall = true), 1) });
    Object.defineProperty(large, 'probe', { enumerable: true, get: () => ((walkedLarge = true), 1) });
    meter.sizeOf({ 'root.a': { small, large, count: 1 } });
    expect(walkedSmall).toBe(true);
    expect(walkedLarge).toBe(false);
    expect(size).toBeGreaterThan(REMEMBERED_MIN_CHARS);
  });

  it('measures a value an event set once, whatever its size, for every state that holds it', () => {
    const meter = new StateSizeMeter();
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: i }));
    const router = { page: { path: '/' } };
    const first: StoredState = { root: { router }, 'root.feed': { rows } };
    const size = meter.sizeAfter(first, { rows });
    expect(size).toBe(new StateSizeMeter().sizeOf(first));
    // Another client's state gets the very same list (a live fan-out): its rows are not walked again, while its
    // own small parts still are.
    let walkedRows = false;
    let walkedRouter = false;
    Object.defineProperty(rows[0], 'probe', { enumerable: true, get: () => ((walkedRows = true), 1) });
    const other: StoredState = { root: { router: { ...router, probe: 1 } }, 'root.feed': { rows } };
    Object.defineProperty(other.root.router, 'probe', { enumerable: true, get: () => ((walkedRouter = true), 1) });
    expect(meter.sizeAfter(other, { rows })).toBeGreaterThan(size);
    expect(walkedRows).toBe(false);
    expect(walkedRouter).toBe(true);
  });

  it('measures each tree of a run of events as a fresh meter measures it', () => {
    fc.assert(
      fc.property(tree, fc.array(step, { maxLength: 8 }), (start, steps) => {
        const meter = new StateSizeMeter();
        let previous = start;
        for (const [name, changes, measured] of steps) {
          const next = { ...previous, [name]: { ...(previous[name] ?? {}), ...changes } };
          // An event that sets only small primitives is not measured (mayGrow): its tree is not seen.
          if (measured) expect(meter.sizeAfter(next, changes)).toBe(new StateSizeMeter().sizeOf(next));
          previous = next;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('measures a tree from its size before and the state an event replaced as a fresh meter measures the whole', () => {
    // A run of events, each replacing one state; the size is carried from event to event when known, as the
    // pipeline carries it in the store, and measured whole when not (an event that was not measured).
    fc.assert(
      fc.property(tree, fc.array(step, { maxLength: 8 }), (start, steps) => {
        const meter = new StateSizeMeter();
        let previous = start;
        let known: number | undefined = meter.sizeOf(start);
        for (const [name, changes, measured] of steps) {
          const replaced = { ...(previous[name] ?? {}), ...changes };
          const next = { ...previous, [name]: replaced };
          if (measured) {
            const size: number = known === undefined ? meter.sizeAfter(next, changes) : meter.sizeReplacing(known, name, previous[name], replaced, changes);
            expect(size).toBe(new StateSizeMeter().sizeOf(next));
            known = size;
          } else {
            known = undefined;
          }
          previous = next;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('does not walk the states an event left alone when the size before is known', () => {
    const meter = new StateSizeMeter();
    const router = { page: { path: '/' }, session: { client_token: 't' } };
    const rows = [{ id: 1 }];
    const before: StoredState = { root: { router }, 'root.feed': { rows } };
    const size = meter.sizeOf(before);
    // A getter runs if the meter walks the router again.
    let walkedRouter = false;
    Object.defineProperty(router, 'probe', { enumerable: true, get: () => ((walkedRouter = true), 1) });
    const more = [...rows, { id: 2 }];
    const replaced = { rows: more };
    const after = meter.sizeReplacing(size, 'root.feed', before['root.feed'], replaced, { rows: more });
    expect(walkedRouter).toBe(false);
    expect(after).toBe(size + new StateSizeMeter().sizeOf({ x: { rows: more } }) - new StateSizeMeter().sizeOf({ x: { rows } }));
  });

  it('measures strings and keys in UTF-8 bytes, as the budget is in bytes: emoji and CJK are not let through at 2 to 3 times it', () => {
    // 4-byte emoji (2 UTF-16 units each) and 3-byte CJK (1 unit each), in values and in keys.
    const state: StoredState = { root: { emoji: '\u{1F600}'.repeat(10_000), cjk: '\u6F22'.repeat(10_000), rows: [{ ['\u6F22'.repeat(100)]: 1 }] } };
    const bytes = Buffer.byteLength(JSON.stringify(state));
    const size = new StateSizeMeter().sizeOf(state);
    expect(size).toBeGreaterThanOrEqual(bytes);
    expect(size).toBeLessThan(bytes + 200);
    // Of ASCII text, a byte is a character, as before.
    const ascii: StoredState = { root: { text: 'x'.repeat(10_000) } };
    expect(new StateSizeMeter().sizeOf(ascii)).toBeLessThan(Buffer.byteLength(JSON.stringify(ascii)) + 50);
  });

  it('measures a string as the bytes JSON writes for it, escapes included: control characters are not let through at 6 times the budget', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        // Lone surrogates aside (JSON escapes them as 6 bytes, UTF-8 has 3 for them), measured exactly.
        fc.pre(!/[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')));
        // Against the same state with empty strings: what the text adds, as key and as value, is what JSON adds.
        const bytes = (value: StoredState) => Buffer.byteLength(JSON.stringify(value));
        const withText: StoredState = { root: { [text]: text } };
        const empty: StoredState = { root: { '': '' } };
        expect(new StateSizeMeter().sizeOf(withText) - new StateSizeMeter().sizeOf(empty)).toBe(bytes(withText) - bytes(empty));
      }),
    );
    // 100,000 NUL characters are 600,000 bytes of JSON (\u0000 each).
    const nul: StoredState = { root: { text: '\u0000'.repeat(100_000) } };
    expect(new StateSizeMeter().sizeOf(nul)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(nul)));
  });

  it('says a change of a short string may grow the state when JSON escapes it long', () => {
    expect(new StateSizeMeter().mayGrow({ label: '\u0001'.repeat(50) })).toBe(true);
    expect(new StateSizeMeter().mayGrow({ label: 'x'.repeat(50) })).toBe(false);
  });

  it('says a change of a short string may grow the state when its UTF-8 form is long', () => {
    expect(new StateSizeMeter().mayGrow({ label: '\u{1F600}'.repeat(SMALL_VALUE_CHARS / 2) })).toBe(true);
  });

  it('refuses a cyclic value saying it refers to itself, however the cycle is reached, rather than overflowing the stack', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node['self'] = node;
    expect(() => new StateSizeMeter().sizeAfter({ root: { items: [node] } }, { items: [node] })).toThrow(/refers to itself/);
    // Two objects pointing at each other, with a leaf off the cycle where the walk passes the depth limit.
    const a: Record<string, unknown> = {};
    const b: Record<string, unknown> = { a, leaf: { deep: {} } };
    a['b'] = b;
    expect(() => new StateSizeMeter().sizeOf({ root: { pair: a } })).toThrow(/refers to itself/);
  });

  it('refuses a value nested past MAX_VALUE_DEPTH saying so, and measures one just within it', () => {
    const nest = (depth: number) => {
      let value: unknown[] = [];
      for (let level = 0; level < depth; level++) value = [value];
      return value;
    };
    expect(() => new StateSizeMeter().sizeOf({ root: { items: nest(100_000) } })).toThrow(new RegExp(`nested more than ${MAX_VALUE_DEPTH} levels`));
    expect(new StateSizeMeter().sizeOf({ root: { items: nest(MAX_VALUE_DEPTH - 1) } })).toBeGreaterThan(MAX_VALUE_DEPTH);
  });

  it('refuses a Map or a Set, whose entries JSON drops, rather than measuring it as an empty object', () => {
    const big = new Map(Array.from({ length: 10_000 }, (_, i) => [i, 'x'.repeat(100)]));
    expect(() => new StateSizeMeter().sizeAfter({ root: { index: big } }, { index: big })).toThrow(/Map/);
    expect(() => new StateSizeMeter().sizeOf({ root: { rows: [{ tags: new Set(['a']) }] } })).toThrow(/Set/);
    // One with a toJSON is what that returns, as any other object with one.
    const mapped = Object.assign(new Map([['a', 1]]), { toJSON: () => ({ a: 1 }) });
    expect(new StateSizeMeter().sizeOf({ root: { mapped } })).toBe(new StateSizeMeter().sizeOf({ root: { mapped: { a: 1 } } }));
  });

  it('notes a change holding what JSON changes (a Date, a class instance, NaN, undefined) and not plain data', () => {
    const meter = new StateSizeMeter();
    for (const odd of [new Date(0), new (class Dto {})(), Number.NaN, Number.POSITIVE_INFINITY, undefined]) {
      meter.takeNonPlain();
      meter.sizeAfter({ a: { items: [odd] } }, { items: [odd] });
      expect(meter.takeNonPlain()).toBe(true);
    }
    meter.sizeAfter({ a: { items: [1, 'x', null, { b: [true] }] } }, { items: [1, 'x', null, { b: [true] }] });
    expect(meter.takeNonPlain()).toBe(false);
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEPTH_SCAN_FROM, frameShapeLimits, keyNamesInLastScan, MAX_FRAME_DEPTH, scanEventFrame, scanFrame, valuesInLastScan } from './guarded-socket-io.parser.js';
import { KEY_NAMES_PER_BUDGET_UNIT, keyNameBudgetUnits } from './key-name-budget-units.js';

/** The distinct key names of every object in `value`. */
function keyNamesIn(value: unknown, names = new Set<string>()): Set<string> {
  if (value === null || typeof value !== 'object') return names;
  if (!Array.isArray(value)) for (const key of Object.keys(value)) names.add(key);
  for (const child of Array.isArray(value) ? value : Object.values(value)) keyNamesIn(child, names);
  return names;
}

/** The frame a Socket.IO client sends for an event whose payload is `payload`. */
const eventFrame = (payload: unknown) => `42/_event,["event",${JSON.stringify({ name: 's.h', payload, router_data: {} })}]`;

/** Records of a few keys each, names drawn from a pool of `pool` (up to thousands of distinct names per frame). */
const records = (pool: number) => fc.array(fc.dictionary(fc.nat(pool).map((n) => `k${n.toString(36)}`), fc.constantFrom(0, 'x', null, [1]), { maxKeys: 12 }), { maxLength: 400 });

describe('keyNameBudgetUnits', () => {
  it('charges one unit per 100 distinct key names of a frame over a kilobyte, counted up to the limit and one more', () => {
    fc.assert(
      fc.property(fc.oneof(records(40), records(5_000)), fc.integer({ min: 0, max: 6_000 }), (payload, maxKeyNames) => {
        const frame = eventFrame(payload);
        // The envelope's own keys (name, payload, router_data) are names too.
        const names = keyNamesIn({ name: '', payload, router_data: {} }).size;
        const expected = frame.length <= DEPTH_SCAN_FROM ? 0 : Math.floor(Math.min(names, maxKeyNames + 1) / KEY_NAMES_PER_BUDGET_UNIT);
        expect(keyNameBudgetUnits(frame, maxKeyNames)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('charges a table of rows that repeat a few names nothing, and a map keyed by thousands of ids for each of them', () => {
    const { maxKeyNames } = frameShapeLimits(1_000_000);
    const table = eventFrame({ rows: Array.from({ length: 2_000 }, (_, index) => ({ id: index, name: `row ${index}`, price: 1, qty: 2 })) });
    expect(keyNameBudgetUnits(table, maxKeyNames)).toBe(0);
    const cart = eventFrame({ cart: Object.fromEntries(Array.from({ length: 5_000 }, (_, index) => [`product_${index}`, 1])) });
    expect(keyNameBudgetUnits(cart, maxKeyNames)).toBe(50);
    expect(keyNameBudgetUnits(eventFrame({ text: 'x'.repeat(900) }), maxKeyNames)).toBe(0);
  });

  it("serves the decoder the scan the budget made of the same frame, and never another frame's", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(records(300), fc.jsonValue({ maxDepth: 4 })), { minLength: 2, maxLength: 4 }), fc.nat(400), (payloads, maxKeyNames) => {
        const frames = payloads.map(eventFrame);
        const fresh = frames.map((frame) => {
          const containers = scanFrame(frame, MAX_FRAME_DEPTH, maxKeyNames);
          return [containers, valuesInLastScan(), keyNamesInLastScan()];
        });
        const scanOnce = (index: number) => [scanEventFrame(frames[index]!, maxKeyNames), valuesInLastScan(), keyNamesInLastScan()];
        // The budget's scan, then the decoder's of the same frame.
        expect(scanOnce(0)).toEqual(fresh[0]);
        expect(scanOnce(0)).toEqual(fresh[0]);
        // Another frame scanned in between (another connection's, an upload's arguments): the next is scanned afresh.
        scanEventFrame(frames[0]!, maxKeyNames);
        scanFrame(frames[1]!, MAX_FRAME_DEPTH, maxKeyNames + 1);
        expect(scanOnce(0)).toEqual(fresh[0]);
        // A scan for another limit is not taken either.
        scanEventFrame(frames[1]!, maxKeyNames + 1);
        expect(scanOnce(1)).toEqual(fresh[1]);
      }),
      { numRuns: 100 },
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { primitiveDeltaJson } from './primitive-delta.json.js';

/** Any string, lone surrogates, quotes, backslashes and control characters included, short and long. */
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', 'é✓'));
const primitive = fc.oneof(anyText, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom(-0, NaN, Infinity, -Infinity, 1e21, 5e-324));
const record = <T>(value: fc.Arbitrary<T>) => fc.dictionary(anyText, value, { maxKeys: 6 });

describe('primitiveDeltaJson', () => {
  it('writes a delta of primitive values byte for byte as JSON.stringify does', () => {
    fc.assert(
      fc.property(record(record(primitive)), (delta) => {
        expect(primitiveDeltaJson({ delta })).toBe(JSON.stringify({ delta }));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves anything else to JSON.stringify, and never writes other bytes than it', () => {
    const anyValue = fc.oneof(primitive, fc.constant(undefined), fc.jsonValue(), fc.func(fc.integer()), fc.date(), fc.constant(Symbol('s')));
    fc.assert(
      fc.property(record(record(anyValue)), fc.option(fc.array(fc.jsonValue(), { maxLength: 2 }), { nil: undefined }), (delta, events) => {
        const update = events === undefined ? { delta } : { delta, events: events as never[] };
        const json = primitiveDeltaJson(update);
        if (json !== undefined) expect(json).toBe(JSON.stringify(update));
      }),
      { numRuns: 500 },
    );
  });

  it('declines client events, objects, arrays and values JSON leaves out', () => {
    expect(primitiveDeltaJson({ events: [] })).toBeUndefined();
    expect(primitiveDeltaJson({ delta: { s: { n_rx_state_: 1 } }, events: [] })).toBeUndefined();
    expect(primitiveDeltaJson({ delta: { s: { rows_rx_state_: [1, 2] } } })).toBeUndefined();
    expect(primitiveDeltaJson({ delta: { s: { row_rx_state_: { id: 1 } } } })).toBeUndefined();
    expect(primitiveDeltaJson({ delta: { s: { gone_rx_state_: undefined } } })).toBeUndefined();
    expect(primitiveDeltaJson({ delta: { s: { at_rx_state_: new Date(0) } } })).toBeUndefined();
  });

  it('writes the usual one-var answer', () => {
    expect(primitiveDeltaJson({ delta: { 'reflex___state____state.counter_state': { count_rx_state_: 3 } } })).toBe('{"delta":{"reflex___state____state.counter_state":{"count_rx_state_":3}}}');
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TempDiskBudget } from './temp-disk-budget.js';

describe('TempDiskBudget', () => {
  it('never holds more than its maximum, and each upload gets back exactly what it took (model, random uploads)', () => {
    // Each step: an upload (of a few) writes a chunk, or one ends and gives back all it held.
    const step = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), upload: fc.integer({ min: 0, max: 3 }), bytes: fc.integer({ min: 0, max: 600 }) }),
      fc.record({ kind: fc.constant('end' as const), upload: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.array(step, { maxLength: 60 }), (max, steps) => {
        const budget = new TempDiskBudget(max);
        const held = [0, 0, 0, 0];
        for (const s of steps) {
          if (s.kind === 'write') {
            const fits = held.reduce((a, b) => a + b, 0) + s.bytes <= max;
            expect(budget.take(s.bytes)).toBe(fits);
            if (fits) held[s.upload]! += s.bytes;
          } else {
            budget.give(held[s.upload]!);
            held[s.upload] = 0;
          }
          expect(budget.heldBytes).toBe(held.reduce((a, b) => a + b, 0));
          expect(budget.heldBytes).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { UploadArgsBudget, uploadFieldUnits } from './upload-args-budget.js';

const MB = 1_040_000;

/** A budget on a clock the test moves. */
function budgetAt(window: { limit: number; ttlMs: number; blockDurationMs?: number }): { budget: UploadArgsBudget; advance(ms: number): void } {
  let now = 1_000;
  const budget = new UploadArgsBudget({ blockDurationMs: 0, ...window }, () => now);
  return { budget, advance: (ms) => (now += ms) };
}

describe('uploadFieldUnits', () => {
  it('charges one unit per 8,192 characters or part of them, nothing for an empty field', () => {
    expect(uploadFieldUnits(0)).toBe(0);
    expect(uploadFieldUnits(1)).toBe(1);
    expect(uploadFieldUnits(8_192)).toBe(1);
    expect(uploadFieldUnits(8_193)).toBe(2);
    expect(uploadFieldUnits(MB)).toBe(127);
  });
});

describe('UploadArgsBudget', () => {
  it('takes fields until the window has spent its limit, then refuses the address until the window ends', () => {
    const { budget, advance } = budgetAt({ limit: 500, ttlMs: 10_000 });
    // 127 units each: the fourth takes the window to 508, past 500 (taken whole), the fifth is refused.
    for (let i = 0; i < 4; i++) expect(budget.charge('203.0.113.7', MB)).toBe(0);
    expect(budget.refusedForMs('203.0.113.7')).toBe(10_000);
    advance(4_000);
    expect(budget.charge('203.0.113.7', 10)).toBe(6_000);
    expect(budget.refusedForMs('203.0.113.7')).toBe(6_000);
    // Another address has a budget of its own.
    expect(budget.refusedForMs('203.0.113.8')).toBe(0);
    expect(budget.charge('203.0.113.8', MB)).toBe(0);
    advance(6_000);
    expect(budget.refusedForMs('203.0.113.7')).toBe(0);
    expect(budget.charge('203.0.113.7', MB)).toBe(0);
  });

  it('charges nothing for empty fields, even to a refused address', () => {
    const { budget } = budgetAt({ limit: 1, ttlMs: 10_000 });
    expect(budget.charge('a', 0)).toBe(0);
    expect(budget.size).toBe(0);
    expect(budget.charge('a', 1)).toBe(0);
    expect(budget.charge('a', 1)).toBeGreaterThan(0);
    expect(budget.charge('a', 0)).toBe(0);
  });

  it('with blockDurationMs, refuses for that long from the first refusal, then counts afresh', () => {
    const { budget, advance } = budgetAt({ limit: 2, ttlMs: 1_000, blockDurationMs: 30_000 });
    expect(budget.charge('a', 16_384)).toBe(0);
    advance(500);
    expect(budget.refusedForMs('a')).toBe(30_000);
    advance(29_999);
    expect(budget.charge('a', 1)).toBe(1);
    advance(1);
    expect(budget.refusedForMs('a')).toBe(0);
    expect(budget.charge('a', 8_192)).toBe(0);
    expect(budget.charge('a', 8_192)).toBe(0);
    expect(budget.charge('a', 1)).toBe(30_000);
  });

  it('sweeps the windows that ended as addresses come and go: memory follows the addresses of one window', () => {
    const { budget, advance } = budgetAt({ limit: 10, ttlMs: 1_000 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3_000; i++) budget.charge(`${round}.${i}`, 1);
      advance(1_000);
    }
    // Each round's 3,000 windows ended before the next round's: never more than two rounds' worth are held.
    expect(budget.size).toBeLessThanOrEqual(6_000);
    budget.sweep();
    expect(budget.size).toBe(0);
  });

  it('property: per address and window, what it takes stays under its limit plus one field, and the refusals say when it takes fields again', () => {
    const op = fc.record({
      address: fc.constantFrom('a', 'b', 'c'),
      characters: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.constant(MB)),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_000 })),
      arrival: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 5_000 }), fc.constantFrom(0, 2_000), fc.array(op, { maxLength: 200 }), (limit, ttlMs, blockDurationMs, ops) => {
        let now = 0;
        const budget = new UploadArgsBudget({ limit, ttlMs, blockDurationMs }, () => now);
        // What each address took since its window began, and when that window began, as the test sees it.
        const taken = new Map<string, { units: number; since: number; largest: number }>();
        const refusedUntil = new Map<string, number>();
        for (const { address, characters, advanceMs, arrival } of ops) {
          now += advanceMs;
          const until = refusedUntil.get(address);
          if (arrival) {
            const wait = budget.refusedForMs(address);
            // A refusal's wait never outlasts the window or the block it announces.
            expect(wait).toBeLessThanOrEqual(Math.max(ttlMs, blockDurationMs));
            if (wait > 0) refusedUntil.set(address, now + wait);
            // A refusal given earlier has ended (and nothing was charged since): the address is taken again.
            if (until !== undefined && now >= until) expect(wait).toBe(0);
            continue;
          }
          const units = uploadFieldUnits(characters);
          const wait = budget.charge(address, characters);
          if (wait > 0) {
            expect(units).toBeGreaterThan(0);
            expect(wait).toBeLessThanOrEqual(Math.max(ttlMs, blockDurationMs));
            refusedUntil.set(address, now + wait);
            continue;
          }
          if (units === 0) continue;
          // A field taken after a refusal comes only once the refusal's time is over.
          if (until !== undefined) expect(now).toBeGreaterThanOrEqual(until);
          let window = taken.get(address);
          if (window === undefined || now - window.since >= ttlMs || (until !== undefined && now >= until)) {
            window = { units: 0, since: now, largest: 0 };
            taken.set(address, window);
            refusedUntil.delete(address);
          }
          window.units += units;
          window.largest = Math.max(window.largest, units);
          // Taken whole while there is room: at most one field beyond the limit.
          expect(window.units).toBeLessThan(limit + window.largest);
        }
      }),
      { numRuns: 300 },
    );
  });
});

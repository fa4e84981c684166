import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { UploadSlots, type UploadSlot } from './upload-slots.js';

/** One step of a run: a new upload from one of a few addresses, or the end (once or again) of one in progress. */
type Step = { kind: 'acquire'; address: number } | { kind: 'release'; pick: number } | { kind: 'releaseAgain'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), address: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('releaseAgain' as const), pick: fc.nat() }),
);

describe('UploadSlots', () => {
  it('never lets an address past its bound nor the worker past its cap, and returns to zero whatever order uploads end in', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.array(step, { maxLength: 80 }), fc.array(fc.nat(), { maxLength: 80 }), (maxConcurrent, maxPerAddress, steps, endOrder) => {
        const slots = new UploadSlots(maxConcurrent, maxPerAddress);
        const held: UploadSlot[] = [];
        const ended: UploadSlot[] = [];
        const model = new Map<string, number>();
        const check = () => {
          let sum = 0;
          for (let a = 0; a <= 4; a++) {
            const address = `10.0.0.${a}`;
            const count = slots.inProgressFrom(address);
            expect(count).toBe(model.get(address) ?? 0);
            expect(count).toBeLessThanOrEqual(maxPerAddress);
            sum += count;
          }
          expect(slots.inProgress).toBe(sum);
          expect(slots.inProgress).toBe(held.length);
          expect(slots.inProgress).toBeLessThanOrEqual(maxConcurrent);
          expect(slots.addresses).toBe([...model.values()].filter((count) => count > 0).length);
        };
        for (const s of steps) {
          if (s.kind === 'acquire') {
            const address = `10.0.0.${s.address}`;
            const before = model.get(address) ?? 0;
            const result = slots.acquire(address);
            // Refused exactly when a bound is reached, the address's own first.
            const expected = before >= maxPerAddress ? 'address' : held.length >= maxConcurrent ? 'worker' : 'slot';
            expect(typeof result === 'string' ? result : 'slot').toBe(expected);
            if (typeof result !== 'string') {
              expect(result.address).toBe(address);
              held.push(result);
              model.set(address, before + 1);
            }
          } else if (s.kind === 'release' && held.length > 0) {
            const [slot] = held.splice(s.pick % held.length, 1);
            slot!.release();
            ended.push(slot!);
            model.set(slot!.address, model.get(slot!.address)! - 1);
          } else if (s.kind === 'releaseAgain' && ended.length > 0) {
            // An end path that runs twice (an error after a close) must not free a slot someone else holds.
            ended[s.pick % ended.length]!.release();
          }
          check();
        }
        // Every upload ends, in any order.
        for (const pick of endOrder) {
          if (held.length === 0) break;
          const [slot] = held.splice(pick % held.length, 1);
          slot!.release();
          model.set(slot!.address, model.get(slot!.address)! - 1);
          check();
        }
        for (const slot of held.splice(0)) slot.release();
        expect(slots.inProgress).toBe(0);
        expect(slots.addresses).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps other addresses uploading while one address holds its bound', () => {
    const slots = new UploadSlots(64, 8);
    const hostile = Array.from({ length: 8 }, () => slots.acquire('203.0.113.7'));
    expect(hostile.every((slot) => typeof slot !== 'string')).toBe(true);
    expect(slots.acquire('203.0.113.7')).toBe('address');
    const other = slots.acquire('198.51.100.1');
    expect(typeof other).not.toBe('string');
    expect(slots.inProgress).toBe(9);
    expect(slots.inProgressFrom('203.0.113.7')).toBe(8);
  });

  it('refuses for the worker once its cap is reached, whichever addresses hold it', () => {
    const slots = new UploadSlots(2, 8);
    expect(typeof slots.acquire('a')).not.toBe('string');
    expect(typeof slots.acquire('b')).not.toBe('string');
    expect(slots.acquire('c')).toBe('worker');
    expect(slots.inProgressFrom('c')).toBe(0);
    expect(slots.addresses).toBe(2);
  });
});

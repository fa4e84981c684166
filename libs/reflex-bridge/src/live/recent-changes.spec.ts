import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ModelChange } from './model-change.js';
import { RecentChanges } from './recent-changes.js';

const change = (label: string, pk: number) => new ModelChange(label, 'updated', pk, { n: pk });

describe('RecentChanges', () => {
  it('hands out the changes of a label received since a time, oldest first, kept as copies', () => {
    let now = 1_000;
    const recent = new RecentChanges(30_000, 100, () => now);
    const first = change('a', 1);
    recent.record(first);
    now = 2_000;
    recent.record(change('b', 2));
    recent.record(change('a', 3));
    expect(recent.since('a', 0).map((c) => c.pk)).toEqual([1, 3]);
    expect(recent.since('a', 1_500).map((c) => c.pk)).toEqual([3]);
    expect(recent.since('c', 0)).toEqual([]);
    const [copy] = recent.since('a', 0);
    expect(copy).not.toBe(first);
    expect(copy!.toJSON()).toEqual(first.toJSON());
    // The kept change itself, the same for every replay (the replay copies it for its subscribers).
    expect(recent.since('a', 0)[0]).toBe(copy);
  });

  it('keeps neither changes older than the window nor more than its bound per label', () => {
    let now = 0;
    const recent = new RecentChanges(10_000, 3, () => now);
    for (let pk = 1; pk <= 5; pk += 1) recent.record(change('a', pk));
    expect(recent.since('a', 0).map((c) => c.pk)).toEqual([3, 4, 5]);
    now = 10_001;
    expect(recent.since('a', 0)).toEqual([]);
    // A quiet label's changes go on the next sweep, whatever label brings it.
    recent.record(change('b', 9));
    expect(recent.size).toBe(1);
  });

  it('matches a plain list of everything received, filtered by time, window and bound, for any sequence', () => {
    const step = fc.record({ label: fc.constantFrom('a', 'b', 'c'), advance: fc.integer({ min: 0, max: 4_000 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), fc.integer({ min: 0, max: 50_000 }), (steps, since) => {
        let now = 0;
        const recent = new RecentChanges(10_000, 20, () => now);
        const all: Array<{ label: string; at: number; pk: number }> = [];
        steps.forEach(({ label, advance }, pk) => {
          now += advance;
          recent.record(change(label, pk));
          all.push({ label, at: now, pk });
        });
        for (const label of ['a', 'b', 'c']) {
          const expected = all
            .filter((entry) => entry.label === label)
            .slice(-20)
            .filter((entry) => entry.at >= since && entry.at >= now - 10_000)
            .map((entry) => entry.pk);
          expect(recent.since(label, since).map((c) => c.pk)).toEqual(expected);
        }
        expect(recent.size).toBeLessThanOrEqual(60);
      }),
    );
  });

  it('keeps at most maxTotal changes over all labels, dropping the oldest first (a writer spraying labels)', () => {
    const recent = new RecentChanges(30_000, 1000, () => 0, 500);
    // Anyone who can write to the transport's channel can send changes of as many labels as they like.
    for (let pk = 0; pk < 20_000; pk += 1) recent.record(change(`spam.label${pk}`, pk));
    expect(recent.size).toBe(500);
    expect(recent.labelCount).toBe(500);
    expect(recent.since('spam.label0', 0)).toEqual([]);
    expect(recent.since('spam.label19999', 0).map((c) => c.pk)).toEqual([19_999]);
  });

  it('with a total bound, matches a plain list of the latest changes, for any sequence', () => {
    const step = fc.record({ label: fc.constantFrom('a', 'b', 'c', 'd'), advance: fc.integer({ min: 0, max: 3_000 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (steps, maxTotal) => {
        let now = 0;
        const recent = new RecentChanges(10_000, 20, () => now, maxTotal);
        const all: Array<{ label: string; at: number; pk: number }> = [];
        steps.forEach(({ label, advance }, pk) => {
          now += advance;
          recent.record(change(label, pk));
          all.push({ label, at: now, pk });
          // What is kept: per label its latest 20, within the window; over all labels the latest maxTotal of those.
          const perLabel = new Set(
            ['a', 'b', 'c', 'd'].flatMap((l) => all.filter((entry) => entry.label === l).slice(-20).map((entry) => entry.pk)),
          );
          const kept = all.filter((entry) => perLabel.has(entry.pk) && entry.at >= now - 10_000).slice(-maxTotal);
          for (const l of ['a', 'b', 'c', 'd']) {
            expect(recent.since(l, 0).map((c) => c.pk)).toEqual(kept.filter((entry) => entry.label === l).map((entry) => entry.pk));
          }
          expect(recent.size).toBeLessThanOrEqual(maxTotal);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('keeps at most maxBytes of changes (their JSON) over all labels, dropping the oldest first (a writer sending 8 KB changes)', () => {
    const bound = 1_000_000;
    const recent = new RecentChanges(30_000, 10_000, () => 0, 10_000, bound);
    const filler = 'x'.repeat(7_900);
    // 10,000 changes of ~8 KB each, the most a NOTIFY carries: 80 MB kept for the window without a bound in bytes.
    for (let pk = 0; pk < 10_000; pk += 1) recent.record(new ModelChange(`spam.label${pk % 50}`, 'updated', pk, { filler }));
    expect(recent.bytes).toBeLessThanOrEqual(bound);
    expect(recent.bytes).toBeGreaterThan(bound - 8_000);
    expect(recent.size).toBeLessThan(130);
    // The latest ones are those kept.
    const kept = Array.from({ length: 50 }, (_, n) => recent.since(`spam.label${n}`, 0).map((c) => c.pk as number)).flat();
    expect(kept.sort((x, y) => x - y)).toEqual(Array.from({ length: recent.size }, (_, n) => 10_000 - recent.size + n));
  });

  it('with a bound in bytes, matches a plain list of the latest changes, for any sequence', () => {
    const step = fc.record({
      label: fc.constantFrom('a', 'b', 'c', 'd'),
      advance: fc.integer({ min: 0, max: 3_000 }),
      text: fc.string({ maxLength: 60, unit: 'binary' }),
    });
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 200 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 1_500 }),
        (steps, maxTotal, maxBytes) => {
          let now = 0;
          const recent = new RecentChanges(10_000, 20, () => now, maxTotal, maxBytes);
          // The model: everything kept in a plain list, in order of arrival, pruned after each arrival.
          let kept: Array<{ label: string; at: number; pk: number; bytes: number }> = [];
          steps.forEach(({ label, advance, text }, pk) => {
            now += advance;
            const received = new ModelChange(label, 'created', pk, { text });
            recent.record(received);
            kept.push({ label, at: now, pk, bytes: Buffer.byteLength(JSON.stringify(received), 'utf8') });
            const ofLabel = kept.filter((entry) => entry.label === label);
            if (ofLabel.length > 20) kept = kept.filter((entry) => entry !== ofLabel[0]);
            kept = kept.filter((entry) => entry.at >= now - 10_000);
            const sum = (): number => kept.reduce((total, entry) => total + entry.bytes, 0);
            while (kept.length > maxTotal || sum() > maxBytes) kept.shift();
            for (const l of ['a', 'b', 'c', 'd']) {
              expect(recent.since(l, 0).map((c) => c.pk)).toEqual(kept.filter((entry) => entry.label === l).map((entry) => entry.pk));
            }
            expect(recent.bytes).toBeLessThanOrEqual(maxBytes);
          });
        },
      ),
      { numRuns: 80 },
    );
  });
});

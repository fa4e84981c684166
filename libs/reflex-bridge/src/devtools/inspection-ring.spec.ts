import { describe, expect, it } from '@jest/globals';
import { InspectionRing } from './inspection-ring.js';

describe('InspectionRing', () => {
  it('keeps the newest entries, newest first, never more than its capacity', () => {
    const ring = new InspectionRing<number>(3);
    expect(ring.newestFirst()).toEqual([]);
    expect(ring.newest()).toBeUndefined();
    for (let value = 1; value <= 10; value++) ring.push(value);
    expect(ring.length).toBe(3);
    expect(ring.newestFirst()).toEqual([10, 9, 8]);
    expect(ring.newest()).toBe(10);
  });

  it('clears', () => {
    const ring = new InspectionRing<number>(2);
    ring.push(1);
    ring.clear();
    expect(ring.length).toBe(0);
    ring.push(2);
    expect(ring.newestFirst()).toEqual([2]);
  });
});

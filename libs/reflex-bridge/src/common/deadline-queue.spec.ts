import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';

function entry(): DeadlineEntry & { expired: number } {
  const made = {
    deadline: 0,
    settled: false,
    expired: 0,
    expire: () => {
      made.expired++;
    },
  };
  return made;
}

describe('DeadlineQueue', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('expires an entry that did not settle once its time is up, and never before', () => {
    const queue = new DeadlineQueue(100);
    const slow = entry();
    queue.track(slow);
    jest.advanceTimersByTime(99);
    expect(slow.expired).toBe(0);
    jest.advanceTimersByTime(1);
    expect(slow.expired).toBe(1);
    expect(slow.settled).toBe(true);
    jest.advanceTimersByTime(1_000);
    expect(slow.expired).toBe(1);
    expect(queue.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('leaves settled entries alone', () => {
    const queue = new DeadlineQueue(100);
    const quick = entry();
    queue.track(quick);
    quick.settled = true;
    jest.advanceTimersByTime(500);
    expect(quick.expired).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('watches a stream of operations with one timer, and expires each late one at its own deadline', () => {
    const queue = new DeadlineQueue(100);
    const late: Array<ReturnType<typeof entry>> = [];
    for (let i = 0; i < 1_000; i++) {
      const op = entry();
      queue.track(op);
      // Every tenth operation never answers; the others complete before the next one starts.
      if (i % 10 === 0) late.push(op);
      else op.settled = true;
      expect(jest.getTimerCount()).toBeLessThanOrEqual(1);
      jest.advanceTimersByTime(1);
    }
    // The queue stays short: it holds at most the operations of the last 100 ms.
    expect(queue.size).toBeLessThanOrEqual(101);
    // Time has moved 1,000 ms: every late operation but those of the last 100 ms has expired, in order.
    const expired = late.filter((op) => op.expired === 1).length;
    expect(expired).toBeGreaterThanOrEqual(89);
    expect(late.slice(0, expired).every((op) => op.expired === 1)).toBe(true);
    jest.advanceTimersByTime(100);
    expect(late.every((op) => op.expired === 1)).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('expires exactly the entries that did not settle within their time, however tracking, settling and time interleave', () => {
    // Bursts past the queue's compaction threshold (1,024 entries) included: the array is reused and compacted in place.
    const step = fc.oneof(
      fc.record({ track: fc.integer({ min: 1, max: 1_500 }) }),
      fc.record({ settle: fc.nat(), count: fc.integer({ min: 1, max: 1_500 }) }),
      fc.record({ wait: fc.integer({ min: 0, max: 150 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const queue = new DeadlineQueue(100);
        const tracked: Array<{ op: ReturnType<typeof entry>; trackedAt: number; settledAt?: number }> = [];
        for (const s of steps) {
          if ('track' in s) {
            for (let i = 0; i < s.track; i++) {
              const op = entry();
              queue.track(op);
              tracked.push({ op, trackedAt: Date.now() });
            }
          } else if ('settle' in s) {
            // Settles a run of entries still open, from a random place: operations complete out of order too.
            const open = tracked.filter((t) => !t.op.settled);
            for (const t of open.slice(s.settle % Math.max(1, open.length), (s.settle % Math.max(1, open.length)) + s.count)) {
              t.op.settled = true;
              t.settledAt = Date.now();
            }
          } else {
            jest.advanceTimersByTime(s.wait);
          }
          const now = Date.now();
          // Never before its deadline, never twice; once settled in time, never.
          const wrong = tracked.filter(
            (t) => t.op.expired > 1 || (t.op.expired === 1 && (now < t.trackedAt + 100 || (t.settledAt !== undefined && t.settledAt < t.trackedAt + 100))),
          );
          expect(wrong).toEqual([]);
        }
        jest.advanceTimersByTime(100);
        expect(tracked.filter((t) => t.op.expired !== (t.settledAt === undefined ? 1 : 0))).toEqual([]);
        expect(queue.size).toBe(0);
        expect(jest.getTimerCount()).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('forgets every entry when closed, without expiring it', () => {
    const queue = new DeadlineQueue(100);
    const pending = entry();
    queue.track(pending);
    queue.close();
    jest.advanceTimersByTime(500);
    expect(pending.expired).toBe(0);
    queue.track(entry());
    expect(jest.getTimerCount()).toBe(0);
  });
});

import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
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

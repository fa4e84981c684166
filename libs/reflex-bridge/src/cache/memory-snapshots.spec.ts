import { describe, expect, it } from '@jest/globals';
import { MemorySnapshots } from './memory-snapshots.js';

describe('MemorySnapshots', () => {
  it('keeps a frozen copy of each snapshot until its TTL passes', () => {
    let now = 1_000;
    const store = new MemorySnapshots(60_000, () => now);
    const snapshot = { userId: 7, isAuthenticated: true };
    store.set('sid', snapshot);
    snapshot.userId = 8;
    const stored = store.get('sid');
    expect(stored).toEqual({ userId: 7, isAuthenticated: true });
    expect(Object.isFrozen(stored)).toBe(true);
    now += 59_999;
    expect(store.get('sid')).toBe(stored);
    now += 1;
    expect(store.get('sid')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('renews the TTL on a new write, and forgets on delete and clear', () => {
    let now = 0;
    const store = new MemorySnapshots(10, () => now);
    store.set('a', { userId: 1, isAuthenticated: true });
    now = 8;
    store.set('a', { userId: 2, isAuthenticated: true });
    now = 15;
    expect(store.get('a')?.userId).toBe(2);
    store.delete('a');
    expect(store.get('a')).toBeUndefined();
    store.set('b', { userId: null, isAuthenticated: false });
    store.clear();
    expect(store.size).toBe(0);
  });

  it('sweeps expired entries once the map has grown, so sessions that never return do not pile up', () => {
    let now = 0;
    const store = new MemorySnapshots(10, () => now);
    for (let i = 0; i < 1_000; i++) store.set(`old-${i}`, { userId: i, isAuthenticated: true });
    now = 20;
    for (let i = 0; i < 100; i++) store.set(`new-${i}`, { userId: i, isAuthenticated: true });
    expect(store.size).toBeLessThan(1_024);
    expect(store.get('new-0')?.userId).toBe(0);
  });
});

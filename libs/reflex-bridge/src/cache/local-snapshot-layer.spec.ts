import { describe, expect, it } from '@jest/globals';
import { LocalSnapshotLayer } from './local-snapshot-layer.js';

describe('LocalSnapshotLayer', () => {
  it('answers a hit synchronously with a frozen copy, until the entry\'s TTL passes', () => {
    let now = 1_000;
    const layer = new LocalSnapshotLayer(10, () => now);
    const snapshot = { userId: 7, isAuthenticated: true };
    layer.set('sid', snapshot, 60_000);
    snapshot.userId = 8;
    const stored = layer.get('sid');
    expect(stored).toEqual({ userId: 7, isAuthenticated: true });
    expect(Object.isFrozen(stored)).toBe(true);
    now += 59_999;
    expect(layer.get('sid')).toBe(stored);
    now += 1;
    expect(layer.get('sid')).toBeUndefined();
    expect(layer.size).toBe(0);
  });

  it('keeps each entry for its own TTL, renews it on a new write, and keeps nothing for a TTL of 0', () => {
    let now = 0;
    const layer = new LocalSnapshotLayer(10, () => now);
    layer.set('short', { userId: 1, isAuthenticated: true }, 5);
    layer.set('long', { userId: 2, isAuthenticated: true }, 50);
    layer.set('none', { userId: 3, isAuthenticated: true }, 0);
    now = 4;
    layer.set('short', { userId: 4, isAuthenticated: true }, 5);
    now = 8;
    expect(layer.get('short')?.userId).toBe(4);
    expect(layer.get('long')?.userId).toBe(2);
    expect(layer.get('none')).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the oldest-written first', () => {
    const layer = new LocalSnapshotLayer(3, () => 0);
    for (const sid of ['a', 'b', 'c']) layer.set(sid, { userId: sid, isAuthenticated: true }, 1_000);
    layer.set('a', { userId: 'a2', isAuthenticated: true }, 1_000); // rewritten: now the newest
    layer.set('d', { userId: 'd', isAuthenticated: true }, 1_000);
    expect(layer.size).toBe(3);
    expect(layer.get('b')).toBeUndefined();
    expect(layer.get('a')?.userId).toBe('a2');
    expect(layer.get('c')?.userId).toBe('c');
    for (let i = 0; i < 1_000; i++) layer.set(`s${i}`, { userId: i, isAuthenticated: true }, 1_000);
    expect(layer.size).toBe(3);
    expect(layer.get('s999')?.userId).toBe(999);
  });

  it('forgets on delete and clear', () => {
    const layer = new LocalSnapshotLayer(10, () => 0);
    layer.set('a', { userId: 1, isAuthenticated: true }, 10);
    layer.set('b', { userId: null, isAuthenticated: false }, 10);
    layer.delete('a');
    expect(layer.get('a')).toBeUndefined();
    expect(layer.get('b')).toEqual({ userId: null, isAuthenticated: false });
    layer.clear();
    expect(layer.size).toBe(0);
  });
});

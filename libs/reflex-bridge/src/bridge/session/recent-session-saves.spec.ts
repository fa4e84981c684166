import { describe, expect, it, jest } from '@jest/globals';
import { SessionEndings } from '../../common/session-endings.js';
import { RecentSessionSaves } from './recent-session-saves.js';

/** A session store that only counts its destroys. */
function countingStore() {
  const destroyed: string[] = [];
  return { destroyed, destroy: (sid: string, callback?: (error?: unknown) => void) => (destroyed.push(sid), callback?.()) };
}

describe('RecentSessionSaves', () => {
  it('destroys again a session it saved when another worker reports its end, once', async () => {
    const endings = new SessionEndings();
    const saves = new RecentSessionSaves(endings);
    const store = countingStore();
    saves.saving('s1', store);
    saves.saving('s2', store);
    await endings.report({ sessionId: 's1', reason: 'logout', remote: true });
    expect(store.destroyed).toEqual(['s1']);
    // Heard again (the destroy above, relayed back by another worker): nothing bounces.
    await endings.report({ sessionId: 's1', reason: 'logout', remote: true });
    expect(store.destroyed).toEqual(['s1']);
  });

  it('destroys again a session it saved that was deleted in the store itself (heard from the session store watcher)', async () => {
    const endings = new SessionEndings();
    const saves = new RecentSessionSaves(endings);
    const store = countingStore();
    saves.saving('s1', store);
    await endings.report({ sessionId: 's1', reason: 'deleted', remote: false });
    expect(store.destroyed).toEqual(['s1']);
  });

  it('keeps a busy session saved on every event while 10,000 other sessions are saved after it, and forgets an idle one', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const endings = new SessionEndings();
      const saves = new RecentSessionSaves(endings);
      const store = countingStore();
      saves.saving('idle', store);
      saves.saving('busy', store);
      // The busy tab's events go on (one every 10 ms) while the other sessions come and go.
      for (let i = 0; i < 10_000; i++) {
        saves.saving(`other-${i}`, store);
        if (i % 10 === 0) {
          jest.advanceTimersByTime(10);
          saves.saving('busy', store);
        }
      }
      await endings.report({ sessionId: 'busy', reason: 'logout', remote: true });
      await endings.report({ sessionId: 'idle', reason: 'logout', remote: true });
      expect(store.destroyed).toEqual(['busy']);
    } finally {
      jest.useRealTimers();
    }
  });

  it("leaves this worker's own logouts, and sessions it never saved, alone", async () => {
    const endings = new SessionEndings();
    const saves = new RecentSessionSaves(endings);
    const store = countingStore();
    saves.saving('s1', store);
    saves.saving('', store);
    saves.saving(undefined, store);
    saves.saving('s3', { destroy: 'not a function' });
    await endings.report({ sessionId: 's1', reason: 'logout', remote: false });
    await endings.report({ sessionId: 's2', reason: 'logout', remote: true });
    await endings.report({ sessionId: 's3', reason: 'logout', remote: true });
    expect(store.destroyed).toEqual([]);
  });

  it('keeps the report going when the store fails to destroy', async () => {
    const endings = new SessionEndings();
    const saves = new RecentSessionSaves(endings);
    saves.saving('s1', { destroy: (_sid: string, callback?: (error?: unknown) => void) => callback?.(new Error('store down')) });
    await expect(endings.report({ sessionId: 's1', reason: 'logout', remote: true })).resolves.toBeUndefined();
  });

  it('does not hold the end for good when the store never answers (a frozen Redis)', async () => {
    jest.useFakeTimers();
    try {
      const endings = new SessionEndings();
      const saves = new RecentSessionSaves(endings);
      saves.saving('s1', { destroy: () => undefined });
      let done = false;
      const reported = endings.report({ sessionId: 's1', reason: 'logout', remote: true }).then(() => (done = true));
      await jest.advanceTimersByTimeAsync(4_999);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await reported;
      expect(done).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});

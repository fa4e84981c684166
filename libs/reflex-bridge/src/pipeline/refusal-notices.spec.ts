import { afterEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import type { EventClient } from '../common/event-client.js';
import { REFUSAL_NOTICE_EVERY_MS, refusalNoticeDue } from './refusal-notices.js';

const client = (): EventClient => ({ token: 't', sid: 's', headers: {}, remoteAddress: '127.0.0.1', emitUpdate: () => undefined, emitError: () => undefined });

describe('refusalNoticeDue', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('shows what must be shown, and a flood\'s later refusals only once nothing was shown for REFUSAL_NOTICE_EVERY_MS', () => {
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const tab = client();
    // Never shown anything: even a refusal past the first of its episode is shown.
    expect(refusalNoticeDue(tab, false)).toBe(true);
    now += 1;
    expect(refusalNoticeDue(tab, false)).toBe(false);
    // The first refusal of an episode (or any error shown each time) is always shown, and restarts the wait.
    expect(refusalNoticeDue(tab, true)).toBe(true);
    now += REFUSAL_NOTICE_EVERY_MS - 1;
    expect(refusalNoticeDue(tab, false)).toBe(false);
    now += 1;
    expect(refusalNoticeDue(tab, false)).toBe(true);
    // Per connection: another one is not held back by this one's notice.
    expect(refusalNoticeDue(client(), false)).toBe(true);
  });

  it('a flood of refusals at any pace shows at most one per REFUSAL_NOTICE_EVERY_MS, and never goes longer without one', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 * REFUSAL_NOTICE_EVERY_MS }), { minLength: 1, maxLength: 300 }), (gaps) => {
        let now = 5_000_000;
        const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
        const tab = client();
        let lastShown: number | undefined;
        for (const gap of gaps) {
          now += gap;
          const shown = refusalNoticeDue(tab, false);
          const due = lastShown === undefined || now - lastShown >= REFUSAL_NOTICE_EVERY_MS;
          expect(shown).toBe(due);
          if (shown) lastShown = now;
        }
        spy.mockRestore();
      }),
    );
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEADLINE_PASSED } from '../../common/deadline.js';
import { PendingSave, type PendingSaveHost, type SavingLock } from './redis-pending-save.js';
import { StateStoreError } from './state-store.error.js';
import { LockLostError, type StoredState } from './state-store.js';

/** A store stand-in that records what its pending saves ask of it. */
class RecordingHost implements PendingSaveHost<SavingLock> {
  readonly sends: string[][] = [];

  send(save: PendingSave): void {
    this.sends.push([...save.args]);
  }

  wholeArguments(save: PendingSave): string[] {
    return ['whole', ...Object.keys(save.next)];
  }

  unknownOutcome(error: unknown): StateStoreError {
    return new StateStoreError('outcome_unknown', error === DEADLINE_PASSED ? 'no answer in time' : `unknown: ${(error as Error).message}`);
  }

  offline(): StateStoreError {
    return new StateStoreError('unavailable', 'offline');
  }

  withdraw(): boolean {
    // Not in a queue.
    return false;
  }

  unsent(): StateStoreError {
    return new StateStoreError('timeout', 'unsent');
  }
}

const NEXT: StoredState = { 'root.a': { n: 2 }, 'root.b': { s: 'x' } };

function pending(): { save: PendingSave; host: RecordingHost; held: SavingLock; outcome: () => Promise<string> } {
  const host = new RecordingHost();
  const held: SavingLock = { token: 'tok-1', keys: { lock: '{tok-1}:lock', state: '{tok-1}' }, state: { 'root.a': { n: 1 } }, uncertain: false };
  const save = new PendingSave(host, held, NEXT, '60000', ['value', '60000', 'd', '0', 'root.a', '{"n":2}']);
  // The outcome as a string, read once the save settled (the promise is watched from the start: no unhandled rejection).
  const settled = save.done.then(
    () => 'written',
    (error: unknown) => (error instanceof LockLostError ? 'lock lost' : `${(error as StateStoreError).code}: ${(error as Error).message}`),
  );
  return { save, host, held, outcome: () => settled };
}

/** What `DeadlineQueue` does once an entry's deadline passed: an entry not settled yet is marked settled, then expired. */
function expireAsTheQueueDoes(save: PendingSave): void {
  if (save.settled) return;
  save.settled = true;
  save.expire();
}

describe('PendingSave', () => {
  it('is written on an answer of 1: the holder now knows the saved state', async () => {
    const { save, held, outcome } = pending();
    save.stateSize = 42;
    save.answered(1);
    await expect(outcome()).resolves.toBe('written');
    expect(held.state).toBe(NEXT);
    // With the size the saver measured for it, for the token's next event on this lock.
    expect(held.stateSize).toBe(42);
    expect(held.uncertain).toBe(false);
    expect(save.settled).toBe(true);
  });

  it('is sent again whole once Redis answers that it holds no state (2), and written by the answer to that', async () => {
    const { save, host, held, outcome } = pending();
    save.answered(2);
    expect(save.settled).toBe(false);
    expect(host.sends).toEqual([['whole', 'root.a', 'root.b']]);
    save.answered(1);
    await expect(outcome()).resolves.toBe('written');
    expect(held.state).toBe(NEXT);
  });

  it('fails with the lock lost on 0, or on a second 2 (the state vanished again: another holder meanwhile)', async () => {
    const lost = pending();
    lost.save.answered(0);
    await expect(lost.outcome()).resolves.toBe('lock lost');
    expect(lost.held.uncertain).toBe(true);
    expect(lost.held.state).toEqual({ 'root.a': { n: 1 } });

    const twice = pending();
    twice.save.answered(2);
    twice.save.answered(2);
    await expect(twice.outcome()).resolves.toBe('lock lost');
    expect(twice.host.sends).toHaveLength(1);
  });

  it('tells a failed command (outcome unknown), a store error (as it is), no connection and a passed deadline apart', async () => {
    const failed = pending();
    failed.save.failed(new Error('socket closed'));
    await expect(failed.outcome()).resolves.toBe('outcome_unknown: unknown: socket closed');

    const storeError = pending();
    storeError.save.failed(new StateStoreError('timeout', 'no answer'));
    await expect(storeError.outcome()).resolves.toBe('timeout: no answer');

    const notSent = pending();
    notSent.save.notSent();
    await expect(notSent.outcome()).resolves.toBe('unavailable: offline');

    const expired = pending();
    expireAsTheQueueDoes(expired.save);
    await expect(expired.outcome()).resolves.toBe('outcome_unknown: no answer in time');
    for (const { held } of [failed, storeError, notSent, expired]) expect(held.uncertain).toBe(true);
  });

  it('settles once, with the first outcome that decides it, whatever arrives after', async () => {
    type Call = { kind: 'answered'; written: unknown } | { kind: 'failed' } | { kind: 'notSent' } | { kind: 'expire' };
    const call: fc.Arbitrary<Call> = fc.oneof(
      fc.record({ kind: fc.constant('answered' as const), written: fc.constantFrom<unknown>(0, 1, 2, 3, null, '1', [1]) }),
      fc.constant({ kind: 'failed' as const }),
      fc.constant({ kind: 'notSent' as const }),
      fc.constant({ kind: 'expire' as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 8 }), async (calls) => {
        const { save, host, held, outcome } = pending();
        // What the first deciding call should give: a first 2 only re-sends.
        let expected: string | undefined;
        let resent = false;
        for (const c of calls) {
          if (expected === undefined) {
            if (c.kind === 'answered') {
              if (c.written === 1) expected = 'written';
              else if (c.written === 2 && !resent) resent = true;
              else expected = 'lock lost';
            } else if (c.kind === 'failed') expected = 'outcome_unknown: unknown: boom';
            else if (c.kind === 'notSent') expected = 'unavailable: offline';
            else expected = 'outcome_unknown: no answer in time';
          }
          if (c.kind === 'answered') save.answered(c.written);
          else if (c.kind === 'failed') save.failed(new Error('boom'));
          else if (c.kind === 'notSent') save.notSent();
          else expireAsTheQueueDoes(save);
        }
        expect(host.sends).toHaveLength(resent ? 1 : 0);
        if (expected === undefined) {
          expect(save.settled).toBe(false);
          return;
        }
        expect(save.settled).toBe(true);
        await expect(outcome()).resolves.toBe(expected);
        expect(held.uncertain).toBe(expected !== 'written');
      }),
    );
  });
});

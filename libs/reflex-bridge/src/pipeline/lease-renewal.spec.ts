import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { BridgeError } from '../protocol/bridge-error.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import { LockLostError, type StateLease } from '../state/store/state-store.js';
import { LeaseRenewal } from './lease-renewal.js';

const quiet = new Logger('test');
quiet.warn = () => undefined;

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A lease whose renewals are counted and may be made to fail. */
function leaseWith(lockTimeoutMs: number, renew: () => void | Promise<void>): StateLease {
  return { token: 'tok-renewal', state: {}, lockTimeoutMs, save: () => undefined, release: () => undefined, renew };
}

describe('LeaseRenewal', () => {
  it('does nothing for a lease whose lock never expires (the in-memory store)', async () => {
    const store = new InMemoryStateStore();
    const lease = await store.acquire('tok');
    expect(LeaseRenewal.start(lease, () => undefined, quiet)).toBeUndefined();
    await lease.release();
    await store.close();
  });

  it('renews about every third of lockTimeoutMs until stopped', async () => {
    let renewals = 0;
    const renewal = LeaseRenewal.start(leaseWith(30, () => void renewals++), () => undefined, quiet)!;
    await until(() => renewals >= 3, 'three renewals');
    renewal.stop();
    const after = renewals;
    // A stopped renewal's timer is gone: give it several intervals' worth of chances.
    let ticks = 0;
    await until(() => ++ticks > 10, 'ten polls');
    expect(renewals).toBe(after);
    expect(renewal.lost).toBeUndefined();
  });

  it('reports a lock the store says is lost, once, as state_lock_lost, and stops', async () => {
    let renewals = 0;
    const lost: BridgeError[] = [];
    const renewal = LeaseRenewal.start(
      leaseWith(30, () => {
        renewals++;
        throw new LockLostError('tok-renewal');
      }),
      (error) => lost.push(error),
      quiet,
    )!;
    await until(() => lost.length === 1, 'the loss');
    expect(lost[0]).toBeInstanceOf(BridgeError);
    expect(lost[0]).toMatchObject({ code: 'state_lock_lost', status: 409 });
    expect(renewal.lost).toBe(lost[0]);
    const after = renewals;
    let ticks = 0;
    await until(() => ++ticks > 10, 'ten polls');
    expect(renewals).toBe(after);
    expect(lost).toHaveLength(1);
  });

  it('retries failed renewals, and gives the lock up once they failed for a whole lockTimeoutMs', async () => {
    // The clock is the test's: on a loaded machine the first renewal could come a whole lockTimeoutMs late, when
    // giving up at once is right.
    jest.useFakeTimers({ now: 0 });
    try {
      let failures = 0;
      const lost: BridgeError[] = [];
      LeaseRenewal.start(
        leaseWith(60, async () => {
          failures++;
          throw new Error('redis is slow');
        }),
        (error) => lost.push(error),
        quiet,
      );
      // Renewals every 20 ms, failing: at 20 and 40 ms the lock has not expired yet, so they are retried.
      await jest.advanceTimersByTimeAsync(45);
      expect(failures).toBe(2);
      expect(lost).toHaveLength(0);
      // At 60 ms the lock has expired with every renewal failed: given up, once.
      await jest.advanceTimersByTimeAsync(100);
      expect(failures).toBe(3);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ code: 'state_lock_lost' });
    } finally {
      jest.useRealTimers();
    }
  });
});

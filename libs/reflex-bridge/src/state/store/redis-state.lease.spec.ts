import { describe, expect, it } from '@jest/globals';
import { RedisStateLease, type LeasedLock, type RedisLeaseHost } from './redis-state.lease.js';
import { LockLostError, type StoredState } from './state-store.js';

/** A host that records what the lease asked of it (the real one is the RedisStateStore, in test/redis-state-store.e2e-spec.ts). */
function recordingHost() {
  const calls: string[] = [];
  const host: RedisLeaseHost<LeasedLock> = {
    save: async (lock, next: StoredState) => {
      calls.push(`save ${JSON.stringify(next)}`);
      lock.state = next;
    },
    renew: async () => {
      calls.push('renew');
    },
    release: () => {
      calls.push('release');
    },
  };
  return { host, calls };
}

describe('RedisStateLease', () => {
  it('shows the state it was granted with, and hands saves, renewals and its release to the store', async () => {
    const { host, calls } = recordingHost();
    const lock: LeasedLock = { token: 'tok-1', state: { s: { n: 1 } } };
    const lease = new RedisStateLease(lock, host, 10_000);
    expect(lease.token).toBe('tok-1');
    expect(lease.state).toEqual({ s: { n: 1 } });
    expect(lease.lockTimeoutMs).toBe(10_000);
    await lease.save({ s: { n: 2 } });
    await lease.renew();
    await lease.release();
    expect(calls).toEqual(['save {"s":{"n":2}}', 'renew', 'release']);
    // The state it was granted with stays what it was: the next lease on the same lock sees the save.
    expect(lease.state).toEqual({ s: { n: 1 } });
    expect(new RedisStateLease(lock, host, 10_000).state).toEqual({ s: { n: 2 } });
  });

  it('hands on the size its lock\'s state was saved with, and none for a token without state', () => {
    const { host } = recordingHost();
    expect(new RedisStateLease({ token: 'tok-3', state: { s: { n: 1 } }, stateSize: 20 }, host, 10_000).stateSize).toBe(20);
    expect(new RedisStateLease({ token: 'tok-3', state: { s: { n: 1 } } }, host, 10_000).stateSize).toBeUndefined();
    expect(new RedisStateLease({ token: 'tok-3', state: null, stateSize: 20 }, host, 10_000).stateSize).toBeUndefined();
  });

  it('releases once, and refuses saves and renewals after its release with LockLostError', async () => {
    const { host, calls } = recordingHost();
    const lease = new RedisStateLease({ token: 'tok-2', state: null }, host, 10_000);
    await lease.release();
    await lease.release();
    expect(lease.isHeld).toBe(false);
    await expect(lease.save({ s: { n: 1 } })).rejects.toBeInstanceOf(LockLostError);
    await expect(lease.renew()).rejects.toBeInstanceOf(LockLostError);
    expect(calls).toEqual(['release']);
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RedisStateStore } from './redis-state.store.js';
import { isClientToken } from '../../protocol/client-token.js';
import { ACQUIRE_SCRIPT, DELETE_SCRIPT, LEAVE_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT, SAVE_SCRIPT } from './redis-lock.scripts.js';

/** CRC16/XMODEM, the checksum Redis Cluster hashes keys with (cluster specification, appendix A). */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of `key` as Redis Cluster computes it: only the first non-empty `{…}` hash tag counts, when there is one. */
function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf('{');
  if (open >= 0) {
    const close = bytes.indexOf('}', open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}

type Keys = { state: string; lock: string; channel: string; waiters: string; lapses: string };
const keysOf = (store: RedisStateStore, token: string): Keys => (store as unknown as { keysFor(token: string): Keys }).keysFor(token);

describe('RedisStateStore keys on a Redis Cluster', () => {
  it('computes slots like Redis (known values of the cluster specification)', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    // An empty tag does not count: the whole key is hashed.
    expect(keySlot('foo{}{bar}')).toBe(crc16(Buffer.from('foo{}{bar}')) % 16384);
  });

  it("puts every key and channel of a token in that token's slot, whatever the token and the prefix", () => {
    // Every token the gateway admits (isClientToken: 8 to 128 of [A-Za-z0-9_-]), Reflex's uuid4 ones included.
    const token = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9_-]{8,128}$/));
    const prefix = fc.constantFrom('rx:state:', 'app1:', 'tenant-7:state:', '');
    fc.assert(
      fc.property(token, prefix, (token, keyPrefix) => {
        const store = new RedisStateStore({ url: 'redis://127.0.0.1:1', keyPrefix });
        const keys = keysOf(store, token);
        const slot = keySlot(`{${token}}`);
        for (const name of Object.values(keys)) expect(keySlot(name)).toBe(slot);
        expect(isClientToken(token)).toBe(true);
        void store.close();
      }),
      { numRuns: 300 },
    );
  });

  it('publishes on token channels with sharded SPUBLISH in the cluster form of every script, PUBLISH on one Redis', () => {
    for (const script of [ACQUIRE_SCRIPT, LEAVE_SCRIPT, SAVE_SCRIPT, DELETE_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT]) {
      // A token channel is a plain ARGV; an owner channel (per process) is a concatenation, published classically.
      expect(script.cluster.source).not.toMatch(/'PUBLISH', ARGV\[\d+\],/);
      expect(script.source).not.toContain('SPUBLISH');
      expect(script.source).not.toContain('TOKEN_PUBLISH');
    }
    expect(RELEASE_SCRIPT.cluster.source).toContain("redis.call('SPUBLISH', ARGV[2], ARGV[1])");
    expect(LEAVE_SCRIPT.cluster.source).toContain("redis.call('SPUBLISH', ARGV[2], ARGV[1])");
    expect(SAVE_SCRIPT.writesState && DELETE_SCRIPT.writesState).toBe(true);
    expect(ACQUIRE_SCRIPT.writesState || RELEASE_SCRIPT.writesState || RENEW_SCRIPT.writesState || LEAVE_SCRIPT.writesState).toBe(false);
  });
});

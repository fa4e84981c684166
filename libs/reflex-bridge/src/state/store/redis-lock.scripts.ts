import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind {@link RedisStateStore}'s lock. Each runs atomically inside Redis, which is what makes the
 * check and the write one step: no other client can slip a command in between.
 *
 * Keys are always passed as KEYS (never built inside a script) so the scripts stay valid on a Redis Cluster, where
 * the store's `{token}` hash tag puts a token's lock and state in the same slot.
 */
export interface RedisLockScript {
  /** Lua source, sent with EVAL when the server does not know the script yet. */
  readonly source: string;
  /** SHA1 of the source, sent with EVALSHA. */
  readonly sha1: string;
}

function script(source: string): RedisLockScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * Takes the lock if it is free and reads the state in the same step.
 * KEYS: lock, state. ARGV: lock value, lock expiry (ms), state expiry (ms).
 * Returns `{1, state | nil}` when the lock was taken (the state's idle expiry is renewed: acquiring is a use),
 * or `{0, pttl, holder}` when someone holds it: the lock's remaining life in ms (-1 without expiry, -2 if it
 * vanished in between) and the holder's lock value ('' if none).
 */
export const ACQUIRE_SCRIPT = script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local state = redis.call('GET', KEYS[2])
  if state then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
  return {1, state}
end
return {0, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[1]) or ''}
`);

/**
 * The fencing write: stores the state only while the lock still holds our value.
 * KEYS: lock, state. ARGV: lock value, state JSON, state expiry (ms). Returns 1 when written, 0 when the lock was lost.
 */
export const SAVE_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`);

/**
 * Compare-and-delete release, then a wake-up for waiters on other processes.
 * KEYS: lock. ARGV: lock value, release channel. Returns 1 when released, 0 when the lock was no longer ours
 * (expired, and maybe taken by someone else, whose lock is left alone).
 */
export const RELEASE_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
`);

import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind {@link RedisStateStore}'s lock. Each runs atomically inside Redis, which is what makes the
 * check and the write one step: no other client can slip a command in between.
 *
 * Keys are always passed as KEYS (never built inside a script) so the scripts stay valid on a Redis Cluster, where
 * the store's `{token}` hash tag puts a token's lock, state, waiting queue and release channel in the same slot.
 * A script publishes on a token's release channel with `TOKEN_PUBLISH`: `PUBLISH` on one Redis, sharded `SPUBLISH`
 * in {@link RedisLockScript.cluster} (Redis 7: the message stays on the token's shard instead of going to every
 * node). The owner channels (one per process, not per token) keep classic `PUBLISH`, which a cluster forwards to
 * every node.
 */
export interface RedisLockScript {
  /** Lua source, sent with EVAL when the server does not know the script yet. */
  readonly source: string;
  /** SHA1 of the source, sent with EVALSHA. */
  readonly sha1: string;
  /** The same script for a Redis Cluster (sharded publishes on token channels). */
  readonly cluster: { readonly source: string; readonly sha1: string };
  /**
   * The script writes a token's state: on a Redis Cluster its effect is confirmed by replicas (`WAIT`) before the
   * caller is told it is done (see `redisCluster.waitReplicas`).
   */
  readonly writesState: boolean;
}

/** Stands for the publish command of a token's channel in a script's source. */
const TOKEN_PUBLISH = 'TOKEN_PUBLISH';

function script(template: string, writesState = false): RedisLockScript {
  const source = template.replaceAll(TOKEN_PUBLISH, "'PUBLISH'");
  const cluster = template.replaceAll(TOKEN_PUBLISH, "'SPUBLISH'");
  return { source, sha1: sha1(source), cluster: { source: cluster, sha1: sha1(cluster) }, writesState };
}

function sha1(source: string): string {
  return createHash('sha1').update(source).digest('hex');
}

/**
 * Takes the lock if it is free and it is the caller's turn, and reads the state in the same step.
 *
 * Turns: a caller that finds the lock busy is registered in a queue of waiting callers (one per process: only a
 * process's first local caller competes in Redis). A free lock goes to the oldest registered caller, so a process
 * that just released cannot take the lock straight back from a caller of another process that was waiting (which
 * otherwise happens every time: its retry is a round trip closer to Redis than the waiter's wake-up). Registrations
 * lapse when not renewed (every attempt renews), so a waiter that died blocks nobody for long.
 *
 * A busy lock held by another process is also announced to that process (PUBLISH on `<owner channel prefix><holder's
 * owner id>`, message: the token): a holder keeping the lock between events (see `lockLingerMs`) gives it back at
 * once instead of at the end of its linger.
 *
 * KEYS: lock, state (hash: one field per substate), waiters (zset: caller → first arrival), lapses (zset: caller →
 * registration end).
 * ARGV: lock value, lock expiry (ms), state expiry (ms), caller id, registration lifetime (ms), provisional state
 * expiry (ms), owner channel prefix, token.
 * Returns `{1, fields | {}, waiting}` when the lock was taken (the state hash's fields and values, flat; the state's
 * idle expiry is renewed: acquiring is a use; `waiting`: how many other callers are still registered, so a holder
 * that would keep the lock between events gives it back at once instead: a caller told "not your turn" while the
 * lock was free announces itself to nobody, and would otherwise wait for the whole linger), or `{0, wait, blocker}` otherwise: the ms after which the caller should
 * look again at the latest (the lock's remaining life, -1 for a lock without expiry; or, when the lock is free but
 * another caller's turn, that caller's remaining registration) and who is in the way (the lock value, or the other
 * caller's id).
 */
export const ACQUIRE_SCRIPT = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for _, caller in ipairs(lapsed) do
  redis.call('ZREM', KEYS[3], caller)
  redis.call('ZREM', KEYS[4], caller)
end
local first = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if (not first or first == ARGV[4]) and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if first then
    redis.call('ZREM', KEYS[3], first)
    redis.call('ZREM', KEYS[4], first)
  end
  local state = redis.call('HGETALL', KEYS[2])
  -- A provisional state (saved with the short TTL, see SaveOptions) keeps a short expiry while only read.
  if #state > 0 then
    if redis.call('PTTL', KEYS[2]) > tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) else redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
  end
  return {1, state, redis.call('ZCARD', KEYS[3])}
end
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[4])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
local holder = redis.call('GET', KEYS[1])
if holder then
  local owner = string.match(holder, '^([^:]+):')
  if owner and string.sub(ARGV[1], 1, #owner + 1) ~= owner .. ':' then redis.call('PUBLISH', ARGV[7] .. owner, ARGV[8]) end
  return {0, redis.call('PTTL', KEYS[1]), holder}
end
first = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if first == ARGV[4] then return {0, 0, ''} end
local lapse = tonumber(redis.call('ZSCORE', KEYS[4], first)) - now
return {0, math.max(0, lapse), first}
`);

/**
 * Takes a caller that gave up out of the waiting queue (otherwise its registration just lapses). When it was first
 * in line and the lock is free, the next caller may be waiting for exactly this turn (a free lock goes to the oldest
 * registration, and a caller told "not your turn" waits until that registration lapses): it is told on the release
 * channel, like after a release, so it tries again at once. This makes the order of a leave and a release (of the
 * same process, or of two) irrelevant: whichever lands last wakes the next caller.
 * KEYS: waiters, lapses, lock. ARGV: caller id, release channel. Returns 1 when the caller was registered, else 0.
 */
export const LEAVE_SCRIPT = script(`
local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 and first == ARGV[1] and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call(TOKEN_PUBLISH, ARGV[2], ARGV[1])
end
return removed
`);

/**
 * The fencing write of one or more saves (several tokens' saves go in one call, see `RedisSaveQueue`): each changes
 * its token's state only while the token's lock still holds the saver's value, and writes only the substates its
 * event changed, one hash field each. The saves are independent: one whose lock was lost leaves the others written.
 * KEYS: per save, its lock and its state. ARGV: per save, its header (see {@link saveHeader}), then the names of the
 * fields to delete, then field/value pairs to set (the `#` field marks a stored state, so even an empty one exists).
 * Returns one answer per save, in order (a lone save's answer alone, not in a list: cheaper to read): 1 when
 * written, 0 when the lock was lost, 2 when a `d` write found no stored state (deleted or expired meanwhile: the
 * caller sends the whole state instead). In `d` mode the expiry is
 * renewed first: `PEXPIRE` answering 0 is also the test that the state exists, one call fewer than `EXISTS`.
 */
export const SAVE_SCRIPT = script(`
local answers = {}
local a = 1
for k = 1, #KEYS, 2 do
  local mode, deletions, count, expiry, value = string.match(ARGV[a], '^(%a)(%d+):(%d+):(%d+):(.*)$')
  local last = a + tonumber(count)
  local state = KEYS[k + 1]
  local written = 1
  if redis.call('GET', KEYS[k]) ~= value then
    written = 0
  elseif mode == 'f' then
    redis.call('DEL', state)
  elseif redis.call('PEXPIRE', state, expiry) == 0 then
    written = 2
  end
  if written == 1 then
    local i = a + 1 + tonumber(deletions)
    if i > a + 1 then redis.call('HDEL', state, unpack(ARGV, a + 1, i - 1)) end
    if i <= last then redis.call('HSET', state, unpack(ARGV, i, last)) end
    if mode == 'f' then redis.call('PEXPIRE', state, expiry) end
  end
  answers[#answers + 1] = written
  a = last + 1
end
if #answers == 1 then return answers[1] end
return answers
`, true);

/**
 * The first argument of one save in {@link SAVE_SCRIPT}: its mode (`f`: the whole state, replacing what is stored;
 * `d`: only the given fields, on top of the stored state), the count of fields it deletes, the count of its
 * arguments after this one, the state's expiry (ms) and the lock value it is fenced by, as one string. One argument
 * rather than five: the client library encodes each argument on its own (a length, a global lookup and four string
 * joins), which cost more per save than the script's one pattern match.
 */
export function saveHeader(mode: 'f' | 'd', deletions: number, count: number, expiryMs: string, lockValue: string): string {
  return `${mode}${deletions}:${count}:${expiryMs}:${lockValue}`;
}

/**
 * Forgets a token's state, and tells a process holding its lock (maybe keeping it between events, with the state
 * in memory) to let it go, so its next event reads the state afresh.
 * KEYS: lock, state. ARGV: owner channel prefix, token.
 */
export const DELETE_SCRIPT = script(`
redis.call('DEL', KEYS[2])
local holder = redis.call('GET', KEYS[1])
if holder then
  local owner = string.match(holder, '^([^:]+):')
  if owner then redis.call('PUBLISH', ARGV[1] .. owner, ARGV[2]) end
end
return 0
`, true);

/**
 * Compare-and-delete release, then a wake-up for waiters on other processes.
 * KEYS: lock. ARGV: lock value, release channel. Returns 1 when released, 0 when the lock was no longer ours
 * (expired, and maybe taken by someone else, whose lock is left alone).
 */
export const RELEASE_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call(TOKEN_PUBLISH, ARGV[2], ARGV[1])
  return 1
end
return 0
`);

/**
 * Lease renewal: gives the lock another full lifetime, only while it still holds our value (a lock that expired,
 * and maybe went to someone else, is never taken back).
 * KEYS: lock. ARGV: lock value, lock expiry (ms). Returns 1 when renewed, 0 when the lock was no longer ours.
 */
export const RENEW_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/**
 * Drops a token's state for the memory limit (see `RedisMemoryGuard`), only while none of the keys that keep it
 * exists: its lock (an event running, or the lock kept between a tab's events) and, when given, the record of a tab
 * holding the token. Nobody is told: without a lock, no process holds the state in memory, and the next event reads
 * it afresh (a fresh state, as after its expiry).
 * KEYS: state, then the keys that keep it. Returns 1 when dropped, 0 when kept or already gone.
 */
export const DROP_UNUSED_SCRIPT = script(`
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
return redis.call('DEL', KEYS[1])
`);

/** Compare-and-delete of a plain lease key (the memory guard's sweep lease). KEYS: key. ARGV: value. */
export const RELEASE_LEASE_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

import type { Keyv } from 'keyv';
import type { RedisClientType } from '@keyv/redis';
import type { CreateRedisKeyv } from '../common/keyv-redis.loader.js';
import type { RedisConnections } from '../common/redis-connections.js';
import { DEFAULT_MAX_PENDING_COMMANDS } from '../common/fail-fast-redis.options.js';

/**
 * The Keyv store of the module's own event cache in Redis (`eventCache.redisUrl`), through `@keyv/redis`.
 * Fails fast instead of queueing commands while Redis is down (the cache is an optimisation: a failed
 * lookup is a miss), and holds at most 10,000 unanswered commands (as the shared connections' `maxPendingCommands`). No Keyv namespace, so a snapshot is stored under exactly the key the service gives
 * (`<keyPrefix><session id>`), not `<namespace>::<key>`.
 */
export function createRedisKeyv(createKeyv: CreateRedisKeyv, url: string): Keyv {
  // Bounded like the shared connections' queue: a Redis that keeps the connection but stops answering (SIGSTOP, a
  // frozen VM) would otherwise collect every event's lookup until it answers, and then run them all.
  return createKeyv({ url, disableOfflineQueue: true, commandsQueueMaxLength: DEFAULT_MAX_PENDING_COMMANDS }, KEYV_OPTIONS);
}

/**
 * The same store on the worker's shared command connection (`redisUrl`): one connection fewer. The connection
 * belongs to {@link RedisConnections}: never disconnect this Keyv (it would close the shared client).
 */
export function createSharedRedisKeyv(createKeyv: CreateRedisKeyv, connections: RedisConnections): Keyv {
  // On a Redis Cluster, @keyv/redis takes the node-redis cluster client itself: it routes each key to its slot's
  // master, groups multi-key commands by slot, and lists keys (SCAN) on every master.
  const cluster = connections.clusterCommands?.cluster;
  // (@keyv/redis tells a cluster from a client at runtime; its createKeyv is typed for a client only.)
  if (cluster) return createKeyv(cluster as unknown as RedisClientType, KEYV_OPTIONS);
  // The cast: the `redis` package's client type lists its bundled modules; it is the same client at runtime.
  return createKeyv(connections.commands as unknown as RedisClientType, KEYV_OPTIONS);
}

/**
 * `noNamespaceAffectsAll`: without a namespace, `@keyv/redis` lists (for `invalidateAll()`) only keys without its
 * separator `::` in them, so a `keyPrefix` such as `shop::event:` had its snapshots stay in Redis after
 * `invalidateAll()`. The option also makes the store's `clear()` flush the database; the module never calls it.
 */
const KEYV_OPTIONS = { throwOnConnectError: false, throwOnErrors: true, noNamespaceAffectsAll: true };

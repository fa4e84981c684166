import type { Keyv } from 'keyv';
import { createKeyv } from '@keyv/redis';

/**
 * The Keyv store of the module's own event cache in Redis (`eventCache.redisUrl`), through `@keyv/redis`.
 * Fails fast instead of queueing commands while Redis is down (the cache is an optimisation: a failed
 * lookup is a miss). No Keyv namespace, so a snapshot is stored under exactly the key the service gives
 * (`<keyPrefix><session id>`), not `<namespace>::<key>`.
 */
export function createRedisKeyv(url: string): Keyv {
  return createKeyv({ url, disableOfflineQueue: true }, { throwOnConnectError: false, throwOnErrors: true });
}

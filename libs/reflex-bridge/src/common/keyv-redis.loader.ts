import type * as KeyvRedis from '@keyv/redis';

/** `@keyv/redis`'s `createKeyv`: how the module's event cache and cookie handoffs make their Redis stores. */
export type CreateRedisKeyv = typeof KeyvRedis.createKeyv;

/**
 * Injection token of {@link CreateRedisKeyv}, or `null` when the module uses no Redis. `@keyv/redis` brings
 * node-redis with it (about 3 MB of heap and 50 ms at start): an app on the in-memory defaults never loads it.
 */
export const KEYV_REDIS = Symbol('ReflexBridgeKeyvRedis');

/** Imports `@keyv/redis` (see {@link KEYV_REDIS}). */
export async function loadRedisKeyv(): Promise<CreateRedisKeyv> {
  return (await import('@keyv/redis')).createKeyv;
}

/** The loaded `createKeyv`, or a clear error where the module's wiring did not provide it. */
export function requireRedisKeyv(createKeyv: CreateRedisKeyv | null | undefined, what: string): CreateRedisKeyv {
  if (!createKeyv) throw new Error(`${what} keeps its store in Redis: provide @keyv/redis's createKeyv under KEYV_REDIS (ReflexBridgeModule does)`);
  return createKeyv;
}

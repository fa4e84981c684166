import type { ReflexBridgeModuleOptions } from '@reflex-bridge/nest';

/**
 * The bench apps' `rateLimit`: a load generator sends thousands of events per second on each connection, far over
 * the default budget per connection. The budget stays on, so its cost is measured as in the default configuration,
 * but it never refuses.
 */
export const BENCH_RATE_LIMIT: ReflexBridgeModuleOptions['rateLimit'] = { perConnection: { limit: Number.MAX_SAFE_INTEGER, ttlMs: 10_000 } };

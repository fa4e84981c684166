import type { ReflexBridgeModuleOptions } from '@reflex-bridge/nest';

/**
 * The bench apps' `rateLimit`: a load generator sends thousands of events per second on each connection, far over
 * the default budget per connection. The budget stays on, so its cost is measured as in the default configuration,
 * but it never refuses.
 */
export const BENCH_RATE_LIMIT: ReflexBridgeModuleOptions['rateLimit'] = { perConnection: { limit: Number.MAX_SAFE_INTEGER, ttlMs: 10_000 } };

/**
 * The bench apps' `maxConnectionsPerAddress`: every load generator connects from 127.0.0.1, up to 10,000 connections
 * (idle and live-latency scenarios), far over the default share of one address. The count stays on, as by default.
 */
export const BENCH_CONNECTIONS_PER_ADDRESS = 1_000_000;

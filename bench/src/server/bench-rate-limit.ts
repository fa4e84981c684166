import type { ReflexBridgeModuleOptions } from '@reflex-bridge/nest';

/**
 * The bench apps' budgets of new states and of new tabs per address (`rateLimit.newStates`, `rateLimit.newTabs`):
 * every load generator's clients are new tabs from 127.0.0.1, thousands a minute (the idle and memory scenarios), far
 * over the defaults (past `newTabs` their hydrates were refused, and those scenarios failed). They stay on, so a new
 * tab is counted as by default, but they never keep a state short nor refuse a tab.
 */
export const BENCH_NEW_STATES = { limit: Number.MAX_SAFE_INTEGER, ttlMs: 60_000 };
export const BENCH_NEW_TABS = BENCH_NEW_STATES;

/**
 * The bench apps' `rateLimit`: a load generator sends thousands of events per second on each connection, far over
 * the default budget per connection. The budget stays on, so its cost is measured as in the default configuration,
 * but it never refuses. New states and new tabs as {@link BENCH_NEW_STATES}.
 */
export const BENCH_RATE_LIMIT: ReflexBridgeModuleOptions['rateLimit'] = {
  perConnection: { limit: Number.MAX_SAFE_INTEGER, ttlMs: 10_000 },
  newStates: BENCH_NEW_STATES,
  newTabs: BENCH_NEW_TABS,
};

/**
 * The bench apps' `maxConnectionsPerAddress`: every load generator connects from 127.0.0.1, up to 10,000 connections
 * (idle and live-latency scenarios), far over the default share of one address. The count stays on, as by default.
 */
export const BENCH_CONNECTIONS_PER_ADDRESS = 1_000_000;

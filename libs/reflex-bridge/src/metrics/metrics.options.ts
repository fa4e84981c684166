/** A prom-client `Registry` (kept structural so prom-client stays an optional peer dependency). */
export interface PromRegistryLike {
  registerMetric(metric: unknown): void;
}

/** What the metrics route reads from a prom-client `Registry`. */
export interface PromExpositionLike {
  metrics(): Promise<string> | string;
  readonly contentType?: string;
}

/** The `metrics` section of the module options, when not just `true`. */
export interface MetricsOptions {
  /**
   * Name of the Nest `Logger` the per-phase debug lines go to.
   * @default 'ReflexBridgeMetrics'
   */
  logger?: string;
  /**
   * Log one debug line per bridge phase.
   * @default true
   */
  log?: boolean;
  /**
   * A prom-client registry: when given, event duration histograms (by tier and phase) and counters of events
   * by tier, of event-cache lookups (hit, miss, or stale: older than the handler's `@AuthMaxAge`) and of states
   * the state store dropped over its memory limit (`reflex_bridge_states_dropped_total`) are registered on it.
   * Requires the `prom-client` package.
   * @default undefined
   */
  registry?: PromRegistryLike;
  /**
   * With `registry`: serve the registry in the Prometheus text format at this path (`GET`), for a Prometheus
   * scraper. The route is open to any client that reaches it: keep it off the public proxy, or leave it unset
   * and serve the registry from your own controller.
   * @default undefined
   */
  path?: string;
}

/** The phases of one event, in order. `fast_auth` replaces `middleware` when fast auth answered. */
export type BridgePhase = 'tier' | 'middleware' | 'fast_auth' | 'guards' | 'handler' | 'delta' | 'emit' | 'total';

// Configs of the ext benchmarks' server and subscriber processes (IPC: JSON only).

/** Sessions (connect-redis) and event cache in Redis; `auth_only` AppState handler. */
export interface SessionServerConfig {
  kind: 'session';
  redisUrl: string;
  fastAuth: boolean;
  preset?: 'default' | 'lean';
}

/** A plain state; the client state store is Redis when `redisUrl` is set, else in memory. */
export interface StoreServerConfig {
  kind: 'store';
  redisUrl?: string;
  /** Root node URLs of a Redis Cluster (`redisCluster`), instead of `redisUrl`. */
  redisCluster?: string[];
}

/** A live list; the live transport is Redis when `redisUrl` is set, else in-process. */
export interface LiveServerConfig {
  kind: 'live';
  redisUrl?: string;
}

export type ExtServerConfig = SessionServerConfig | StoreServerConfig | LiveServerConfig;

export interface LiveSubscriberConfig {
  url: string;
  clients: number;
  /** Full name of the live state (its `live_subscribe` handler is called). */
  state: string;
}

export interface LiveReceipts {
  /** Receipts since the last `take`, per client and publish. */
  received: number;
  /** Publish → receipt, ms. */
  latencies: number[];
}

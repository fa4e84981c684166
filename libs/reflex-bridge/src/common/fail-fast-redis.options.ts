/** What {@link failFastRedisOptions} needs to know about the connection's owner. */
export interface FailFastRedisSettings {
  url: string;
  /** Milliseconds one connection attempt may take. */
  connectTimeoutMs: number;
  /** The longest pause between reconnection attempts. */
  maxReconnectDelayMs: number;
  /** True once the owner was closed: reconnecting stops then. */
  isClosed: () => boolean;
}

/**
 * node-redis client options for the library's own connections: commands fail at once while disconnected
 * instead of queueing until Redis returns (a caller waiting on a queued command would hang), and reconnection
 * backs off exponentially with jitter, so that many workers do not reconnect in lock step, until the owner closes.
 */
export function failFastRedisOptions(settings: FailFastRedisSettings) {
  return {
    url: settings.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: settings.connectTimeoutMs,
      reconnectStrategy: (retries: number): number | false => {
        if (settings.isClosed()) return false;
        const delay = Math.min(settings.maxReconnectDelayMs, 50 * 2 ** Math.min(retries, 16));
        return Math.round(delay * (0.5 + Math.random() / 2));
      },
    },
  };
}

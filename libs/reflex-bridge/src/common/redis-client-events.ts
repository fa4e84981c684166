import type { RedisClient } from './redis-connections.js';

/**
 * A stand-in for a node-redis client handed to the Socket.IO Redis adapter: it forwards `on`/`off` (the adapter
 * adds and removes its `error` handler on both its clients) to the real client it wraps.
 */
export abstract class RedisClientEvents {
  protected constructor(protected readonly client: RedisClient) {}

  on(event: string, listener: (...args: unknown[]) => void): this {
    this.client.on(event, listener);
    return this;
  }

  off(event: string, listener: (...args: unknown[]) => void): this {
    this.client.off(event, listener);
    return this;
  }
}

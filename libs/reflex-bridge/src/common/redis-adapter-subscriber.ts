import type { LoggerService } from '@nestjs/common';
import type { RedisClient } from './redis-connections.js';
import { RedisClientEvents } from './redis-client-events.js';

const noop = (): void => undefined;

/** A (un)subscription as node-redis 4/5 takes it from the adapter: channels, the listener, buffer mode. */
export type PubSubCall = (channels: string | string[], listener: Parameters<RedisClient['subscribe']>[1], bufferMode?: Parameters<RedisClient['subscribe']>[2]) => Promise<void>;

/**
 * The subscribing side handed to the Socket.IO Redis adapter on one Redis: what it calls on its `subClient` with
 * node-redis 4/5, on the shared subscriber connection. The adapter neither awaits nor catches these promises (it
 * unsubscribes each namespace's four channels when the server closes): one rejected by a connection that errors
 * meanwhile (a reset, a close at shutdown) would be an unhandled rejection, which ends a Node process. A failed
 * subscription is logged (that worker then misses broadcasts until it reconnects, when node-redis subscribes again);
 * a failed unsubscription is dropped.
 */
export class RedisAdapterSubscriber extends RedisClientEvents {
  constructor(
    client: RedisClient,
    private readonly logger: LoggerService,
  ) {
    super(client);
  }

  pSubscribe: PubSubCall = (patterns, listener, bufferMode) => this.subscribed(this.client.pSubscribe(patterns, listener, bufferMode));
  subscribe: PubSubCall = (channels, listener, bufferMode) => this.subscribed(this.client.subscribe(channels, listener, bufferMode));
  pUnsubscribe: PubSubCall = (patterns, listener, bufferMode) => this.client.pUnsubscribe(patterns, listener, bufferMode).catch(noop);
  unsubscribe: PubSubCall = (channels, listener, bufferMode) => this.client.unsubscribe(channels, listener, bufferMode).catch(noop);

  private subscribed(subscribing: Promise<unknown>): Promise<void> {
    return subscribing.then(noop, (error: Error) => this.logger.warn(`Socket.IO adapter: a subscription failed (${error.message}); broadcasts may not reach this worker until Redis is back.`));
  }
}

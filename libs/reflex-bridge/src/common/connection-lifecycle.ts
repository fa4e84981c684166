import { Injectable, Logger } from '@nestjs/common';
import type { EventClient } from './event-client.js';

type ClosedListener = (client: EventClient) => void;

/**
 * The end of a socket's life, for everything that keeps something per connection (token bindings, rate-limit
 * counters, live-list subscriptions, the bridge's cookie header): each subscribes here
 * instead of the gateway calling each by hand. The gateway reports every closed connection, once.
 */
@Injectable()
export class ConnectionLifecycle {
  private readonly logger = new Logger('ReflexBridge');
  private readonly closedListeners: ClosedListener[] = [];
  /** The connections reported closed: work that was queued before a socket left may still run after it did. */
  private readonly closedClients = new WeakSet<EventClient>();

  /** Calls `listener` with every connection that closes from now on. */
  onClosed(listener: ClosedListener): void {
    this.closedListeners.push(listener);
  }

  /** Reports that `client`'s socket closed (idempotent for listeners: each forgets what it kept, if anything). */
  closed(client: EventClient): void {
    this.closedClients.add(client);
    for (const listener of this.closedListeners) {
      try {
        listener(client);
      } catch (error) {
        this.logger.error(`Forgetting a closed connection failed: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
  }

  /**
   * True once `client`'s socket has closed. Whatever keeps something per connection checks it before keeping it
   * when it may run late: an event queued behind slower ones of its token runs after its socket left, and what it
   * started then would never be forgotten (the listeners above already ran).
   */
  isClosed(client: EventClient): boolean {
    return this.closedClients.has(client);
  }
}

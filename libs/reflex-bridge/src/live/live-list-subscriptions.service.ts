import { ConnectionLifecycle } from '../common/connection-lifecycle.js';
import { Injectable, Logger } from '@nestjs/common';
import type { StateDefinition } from '../state/state-definition.js';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import { getLiveLists } from './live-list.decorator.js';
import { applyLiveChange } from './live-list-apply.js';
import { LiveRowCache } from './live-row.cache.js';
import type { LiveSubscription } from './live-subscription.js';

/** Changes one client's state under its lock and pushes the delta (the pipeline's `modify`). */
export type ModifyState = (change: (state: Record<string, unknown>) => Promise<void>) => Promise<void>;

/**
 * The live-list subscriptions of connected clients: one per (connection, state), started by the state's
 * `live_subscribe` event, ended when the connection closes.
 */
@Injectable()
export class LiveListSubscriptions {
  private readonly logger = new Logger('ReflexBridge');
  private readonly byConnection = new Map<string, Map<StateDefinition, LiveSubscription[]>>();
  /** Each change's row, once per scope (change, list, user) for all of this worker's subscribers. */
  private readonly rows = new LiveRowCache();

  constructor(
    private readonly broadcaster: LiveBroadcaster,
    connections: ConnectionLifecycle,
  ) {
    connections.onClosed((client) => this.stop(client.sid));
  }

  /** True when the state declares at least one `@LiveList`. */
  hasLiveLists(definition: StateDefinition): boolean {
    return getLiveLists(definition.cls).length > 0;
  }

  /**
   * Subscribes connection `sid` to the live lists of `definition` (once: a second call is a no-op). Each
   * change is applied through `modify`, with `user` (the subscriber's user, for scope checks).
   */
  start(sid: string, definition: StateDefinition, user: unknown, modify: ModifyState): void {
    let states = this.byConnection.get(sid);
    if (!states) {
      states = new Map();
      this.byConnection.set(sid, states);
    }
    if (states.has(definition)) return;
    const subscriptions: LiveSubscription[] = [];
    for (const list of getLiveLists(definition.cls)) {
      const subscription = this.broadcaster.subscribe(list.label);
      subscriptions.push(subscription);
      void (async () => {
        for await (const change of subscription) {
          try {
            await modify((state) => applyLiveChange(state, list, change, user, this.rows));
          } catch (error) {
            this.logger.warn(`Applying ${change.modelLabel} ${change.action} ${String(change.pk)} to ${definition.fullName}.${list.property} failed: ${(error as Error).message}`);
          }
        }
      })();
    }
    states.set(definition, subscriptions);
  }

  /** Ends every subscription of a connection. */
  stop(sid: string): void {
    const states = this.byConnection.get(sid);
    if (!states) return;
    this.byConnection.delete(sid);
    for (const subscriptions of states.values()) for (const subscription of subscriptions) subscription.unsubscribe();
  }

  /** Connections with live subscriptions (for tests and metrics). */
  get connections(): number {
    return this.byConnection.size;
  }
}

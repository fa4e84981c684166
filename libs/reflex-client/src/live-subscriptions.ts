/** The handler every state with a live list answers on a ReflexBridge server (`LiveListMixin.live_subscribe`). */
export const LIVE_SUBSCRIBE_HANDLER = 'live_subscribe';

const SUFFIX = `.${LIVE_SUBSCRIBE_HANDLER}`;

/**
 * The `live_subscribe` events the app sent, so the client can send them again on a new connection: the server
 * keeps a live-list subscription for one connection only, and a replaced socket (a reconnection, or `connect()`
 * after `disconnect()`) would otherwise leave the app's live lists silently frozen. Reflex's own client restores
 * what a connection holds the same way, by sending the hydrate sequence (and so the page's on-load events) again.
 */
export class LiveSubscriptions {
  /** State name → payload of its latest `live_subscribe`, in the order each state was first subscribed. */
  private readonly made = new Map<string, Record<string, unknown>>();
  /** States whose `live_subscribe` went out on the current socket. */
  private readonly sentOnSocket = new Set<string>();

  /** Records an event the app asked to send (sent at once or queued). */
  requested(name: string, payload: Record<string, unknown>): void {
    const state = stateOf(name);
    // `set` on an existing key keeps its place: the order is the order of first subscription.
    if (state !== undefined) this.made.set(state, payload);
  }

  /** Records an event written to the current socket. */
  sent(name: string): void {
    const state = stateOf(name);
    if (state !== undefined) this.sentOnSocket.add(state);
  }

  /** A new socket opened: it holds no subscription yet. */
  newSocket(): void {
    this.sentOnSocket.clear();
  }

  /**
   * Whether `name` is a `live_subscribe` the client sends again on each new connection (one the app sent; not one a
   * server asked for): lost with a connection, it is restored, not lost.
   */
  restores(name: string): boolean {
    const state = stateOf(name);
    return state !== undefined && this.made.has(state);
  }

  /** The `live_subscribe` events the current socket still lacks, in first-subscription order. */
  missing(): Array<{ name: string; payload: Record<string, unknown> }> {
    const events: Array<{ name: string; payload: Record<string, unknown> }> = [];
    for (const [state, payload] of this.made) if (!this.sentOnSocket.has(state)) events.push({ name: `${state}${SUFFIX}`, payload });
    return events;
  }
}

/** The state a `live_subscribe` event is for, or undefined for any other event. */
function stateOf(name: string): string | undefined {
  return name.endsWith(SUFFIX) && name.length > SUFFIX.length ? name.slice(0, -SUFFIX.length) : undefined;
}

import type { ClientEvent } from './client-event.js';

/** Changed vars per full state name, keys already carrying the `_rx_state_` marker. */
export type Delta = Record<string, Record<string, unknown>>;

/**
 * One outbound `event` message. Reflex sends the delta and the events as separate messages, delta first,
 * and only non-empty fields.
 */
export interface StateUpdate {
  delta?: Delta;
  events?: ClientEvent[];
}

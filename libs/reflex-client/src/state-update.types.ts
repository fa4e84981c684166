import type { ClientEvent } from './client-event.types.js';

/**
 * Changed vars per full state name, as sent by the server: keys carry the `_rx_state_` marker,
 * e.g. `{"reflex___state____state.counter_state": {"count_rx_state_": 3}}`.
 */
export type Delta = Record<string, Record<string, unknown>>;

/**
 * One server → client `event` message. The server sends the delta and the frontend events as separate
 * messages (delta first) and leaves out empty fields.
 */
export interface StateUpdate {
  /** Vars that changed, per full state name. */
  delta?: Delta;
  /** Events for the client to run (frontend events have names starting with `_`). */
  events?: ClientEvent[];
}

import { ROOT } from '../harness/wire.js';

/**
 * The state the peers answer for. The load generator reads only `delta`, so any stable name works; this one
 * says what the peers stand in for: the `full`-tier bench state.
 */
export const PEER_STATE = `${ROOT}.peer_state`;

/** An `event` frame as the load generator sends it (untrusted: every field checked before use). */
export interface PeerEventFrame {
  name?: unknown;
  payload?: unknown;
  router_data?: unknown;
}

/** What the peers answer: Reflex's state update, the same shape the bridge emits. */
export interface PeerUpdate {
  delta: Record<string, Record<string, unknown>>;
  events: unknown[];
  final: boolean;
}

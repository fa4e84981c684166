// Event names on the wire. The state full names follow the library's rule (root name + the class name in
// snake_case); keep them in step with the classes in `server/bench-states.ts`. A mismatch is loud: the server
// answers `unknown_handler`, and the benchmark stops on the first error.
import type { WireEvent } from './types.js';

export const ROOT = 'reflex___state____state';
export const HYDRATE = `${ROOT}.hydrate`;
export const ON_LOAD_INTERNAL = `${ROOT}.reflex___state____on_load_internal_state.on_load_internal`;

/** The state the bare echo server pretends to answer for (its replies carry the same delta shape). */
export const ECHO_STATE = `${ROOT}.echo_state`;

/** `tiers` suite: one state per tier, each with a `bump` handler that increments one var. */
export const TIER_STATES = {
  none: `${ROOT}.none_tier_state`,
  auth_only: `${ROOT}.auth_tier_state`,
  full: `${ROOT}.full_tier_state`,
} as const;

/** `tiers` suite: a `none`-tier state whose async handler finishes in microtasks (no I/O). */
export const LOOKUP_STATE = `${ROOT}.lookup_state`;

/** `modes` suite: plain UI state (80% of the mixed workload) and a bridge-aware one (20%). */
export const MODE_STATES = {
  ui: `${ROOT}.panel_state`,
  aware: `${ROOT}.profile_state`,
} as const;

/** `growth` suite: a list var of N rows and an unrelated counter. */
export const CATALOG_STATE = `${ROOT}.catalog_state`;

/** `memory` suite: two small states. */
export const MEMORY_STATES = [`${ROOT}.prefs_state`, `${ROOT}.greeting_state`] as const;

/** The user every bench client logs in as (each client gets its own session). */
export const BENCH_LOGIN = { username: 'bench', password: 'bench-password' } as const;

export function event(name: string, payload: Record<string, unknown> = {}): WireEvent {
  return { name, payload };
}

/**
 * `upload` benchmark: the handlers `POST /_upload` runs (`Reflex-Event-Handler`), one per mode; see
 * `upload/upload-bridge-app.ts`.
 */
export const UPLOAD_HANDLERS = {
  streaming: `${ROOT}.upload_stream_state.store`,
  buffered: `${ROOT}.upload_buffer_state.store`,
} as const;

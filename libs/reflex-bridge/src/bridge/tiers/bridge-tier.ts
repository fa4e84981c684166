/**
 * How much of the app's request pipeline runs around one event:
 * - `none`: nothing; no request is bound (fastest; for UI-only state).
 * - `auth_only`: the session and authentication middleware only.
 * - `full`: the full middleware list, then the handler's guards, interceptors, pipes and exception filters.
 *
 * Exported as `BridgeTierName` (what a `BridgeTierResolver` returns, what `@BridgeTier()` takes): the plain name
 * `BridgeTier` is the decorator's.
 */
export type BridgeTierName = 'none' | 'auth_only' | 'full';

/** {@link BridgeTierName} under the name the library's own code uses. */
export type BridgeTier = BridgeTierName;

/** The global bridge mode: `full` and `none` apply that tier; `smart` picks per state (see the docs). */
export type BridgeMode = 'full' | 'smart' | 'none';

/** All tiers, weakest first (the order the upload floor compares in). */
export const BRIDGE_TIERS: readonly BridgeTier[] = ['none', 'auth_only', 'full'];

/** True for one of the three tier names. */
export function isBridgeTier(value: unknown): value is BridgeTier {
  return value === 'none' || value === 'auth_only' || value === 'full';
}

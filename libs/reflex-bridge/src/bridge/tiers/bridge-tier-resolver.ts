import type { Type } from '@nestjs/common';
import type { BridgeTierName } from './bridge-tier.js';

/** What a tier resolver learns about the event it decides for. */
export interface BridgeEventInfo {
  /** Full event name (`<full state name>.<method>`). */
  name: string;
  /** The handler method name. */
  handler: string;
  /** The page path the event came from. */
  pathname: string;
  /** True for upload events (they are never below `auth_only`, whatever the resolver says). */
  upload: boolean;
}

/**
 * A function choosing the tier for one event; any answer that is not a tier falls through (`string` is accepted so
 * that a resolver reading tiers from configuration type-checks; declare `BridgeTierName | undefined` to have the
 * compiler catch a typo).
 */
export type BridgeTierResolverFn = (stateClass: Type, event: BridgeEventInfo) => BridgeTierName | string | null | undefined;

/**
 * An injectable tier resolver (pass the class as `bridge.resolver`; it is instantiated with DI). Any answer that
 * is not a tier (`undefined`, `null`, a typo) falls through to the next rule.
 * @example
 * ```ts
 * import type { BridgeTierName, BridgeTierResolver } from '@reflex-bridge/nest';
 *
 * @Injectable()
 * export class ShopTierResolver implements BridgeTierResolver {
 *   resolve(state: Type): BridgeTierName | undefined { return state.name.endsWith('FilterState') ? 'none' : undefined; }
 * }
 * ```
 */
export interface BridgeTierResolver {
  resolve(stateClass: Type, event: BridgeEventInfo): BridgeTierName | string | null | undefined;
}

import type { Type } from '@nestjs/common';
import type { BridgeTier } from './bridge-tier.js';

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

/** A function choosing the tier for one event; any answer that is not a tier falls through. */
export type BridgeTierResolverFn = (stateClass: Type, event: BridgeEventInfo) => BridgeTier | string | null | undefined;

/**
 * An injectable tier resolver (pass the class as `bridge.resolver`; it is instantiated with DI).
 * @example
 * ```ts
 * @Injectable()
 * export class ShopTierResolver implements BridgeTierResolver {
 *   resolve(state: Type) { return state.name.endsWith('FilterState') ? 'none' : undefined; }
 * }
 * ```
 */
export interface BridgeTierResolver {
  resolve(stateClass: Type, event: BridgeEventInfo): BridgeTier | string | null | undefined;
}

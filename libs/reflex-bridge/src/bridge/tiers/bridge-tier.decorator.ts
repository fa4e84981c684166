import { Reflector } from '@nestjs/core';
import type { BridgeTierName } from './bridge-tier.js';

/** Typed metadata key written by {@link BridgeTier}. */
export const BridgeTierMetadata = Reflector.createDecorator<BridgeTierName>();

/**
 * Sets the bridge tier of a state class or of one handler (a handler's tier beats its class's, which beats
 * the global mode). A class's tier is read from that class only: subclasses do not inherit it, as in
 * reflex-django, so a subclass that needs the request says so itself.
 * @example
 * ```ts
 * @State() @BridgeTier('none')
 * export class FilterState { query = ''; @EventHandler() setQuery(@Payload('value') value: string) { this.query = value; } }
 * ```
 * @publicApi
 */
export function BridgeTier(tier: BridgeTierName): ClassDecorator & MethodDecorator {
  return BridgeTierMetadata(tier);
}

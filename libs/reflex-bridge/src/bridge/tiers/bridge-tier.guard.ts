import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { BridgeTier } from './bridge-tier.js';
import { AuthOnlyTierGuard } from './auth-only-tier.guard.js';
import { FullTierGuard } from './full-tier.guard.js';
import { NoneTierGuard } from './none-tier.guard.js';
import { outcomeOf } from './tier-execution-context.js';
import { TierResolution } from './tier-resolution.service.js';
import { phaseEnd, phaseStart } from '../bridge-timing.js';

/**
 * The guard every event passes first: picks the event's tier (the resolver, then `@BridgeTier` on the handler,
 * then on its own class, read through the `Reflector` once per handler; then the mode; uploads at least
 * `auth_only`), records it on the event, and delegates to that tier's guard ({@link NoneTierGuard},
 * {@link AuthOnlyTierGuard}, {@link FullTierGuard}), the instances the module's container holds.
 *
 * Hooks for a subclass: `getTier(context)` and `guardFor(tier)`.
 * @publicApi
 */
@Injectable()
export class BridgeTierGuard implements CanActivate {
  constructor(
    protected readonly tiers: TierResolution,
    protected readonly none: NoneTierGuard,
    protected readonly authOnly: AuthOnlyTierGuard,
    protected readonly full: FullTierGuard,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const outcome = outcomeOf(context);
    const start = phaseStart(outcome.timer);
    const tier = this.getTier(context);
    outcome.tier = tier;
    if (outcome.timer) {
      outcome.timer.tier = tier;
      phaseEnd(outcome.timer, 'tier', start);
      if (outcome.timer.trace) outcome.timer.trace.tierReason = this.tiers.reasonFor(outcome.handler, outcome.routerData.pathname, tier);
    }
    return this.guardFor(tier).canActivate(context) as boolean | Promise<boolean>;
  }

  /** The event's tier. */
  protected getTier(context: ExecutionContext): BridgeTier {
    const event = outcomeOf(context);
    const pathname = event.routerData.pathname;
    return this.tiers.tierFor(event.handler, typeof pathname === 'string' ? pathname : '/');
  }

  /** The guard that runs `tier`'s chain. */
  protected guardFor(tier: BridgeTier): CanActivate {
    return tier === 'none' ? this.none : tier === 'auth_only' ? this.authOnly : this.full;
  }
}

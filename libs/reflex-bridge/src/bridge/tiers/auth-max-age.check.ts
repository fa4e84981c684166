import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { StateRegistry } from '../../state/state-registry.service.js';
import { authMaxAgeMsOf } from './auth-max-age.decorator.js';
import { TierResolution } from './tier-resolution.service.js';

/** At most this many handlers are named in the warning; the rest are counted. */
const NAMED = 10;

/**
 * Warns at startup about handlers with an `@AuthMaxAge` whose events run on tier `none`: no session is read for
 * them, so the age they ask for protects nothing, and a developer who wrote `@AuthMaxAge(0)` to see revoked sessions
 * at once would otherwise never learn that none is read. (On `full`, or without fast auth, the middleware runs for
 * every event: the age is always met.) Not with a `bridge.resolver`, which may give those handlers another tier per
 * event.
 */
@Injectable()
export class AuthMaxAgeCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly registry: StateRegistry,
    private readonly tiers: TierResolution,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.bridge.resolver) return;
    const unauthenticated: string[] = [];
    for (const handler of this.registry.handlerDefinitions()) {
      if (authMaxAgeMsOf(handler) !== undefined && this.tiers.staticTierOf(handler) === 'none') unauthenticated.push(`${handler.state.cls.name}.${handler.method}`);
    }
    if (unauthenticated.length === 0) return;
    const named = unauthenticated.slice(0, NAMED).join(', ') + (unauthenticated.length > NAMED ? ` and ${unauthenticated.length - NAMED} more` : '');
    this.logger.warn(
      `@AuthMaxAge on ${named}: ${unauthenticated.length > 1 ? 'their' : 'its'} events run on bridge tier none, where no session is read, so the age protects nothing. ` +
        `Give ${unauthenticated.length > 1 ? 'them' : 'it'} @BridgeTier('auth_only') (or 'full') to have the user checked.`,
    );
  }
}

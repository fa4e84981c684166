import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import type { HandlerDefinition } from '../../state/state-definition.js';
import type { StateRegistry } from '../../state/state-registry.service.js';
import { AuthMaxAge } from './auth-max-age.decorator.js';
import { AuthMaxAgeCheck } from './auth-max-age.check.js';
import type { BridgeTier } from './bridge-tier.js';
import type { TierResolution } from './tier-resolution.service.js';

class SearchState {
  @AuthMaxAge(0)
  search(): void {}

  browse(): void {}
}

@AuthMaxAge(5)
class AccountState {
  rename(): void {}
}

const handler = (cls: new () => object, method: string) => ({ state: { cls }, method }) as unknown as HandlerDefinition;
const HANDLERS = [handler(SearchState, 'search'), handler(SearchState, 'browse'), handler(AccountState, 'rename')];

/** The warnings the check logs for these handlers on these tiers. */
function warnings(tiers: Record<string, BridgeTier>, options: ReflexBridgeModuleOptions = {}): string[] {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  try {
    const registry = { handlerDefinitions: () => HANDLERS } as unknown as StateRegistry;
    const resolution = { staticTierOf: (definition: HandlerDefinition) => tiers[definition.method]! } as unknown as TierResolution;
    new AuthMaxAgeCheck(resolveOptions(options), registry, resolution).onApplicationBootstrap();
    return warn.mock.calls.map((call) => String(call[0]));
  } finally {
    warn.mockRestore();
  }
}

describe('AuthMaxAgeCheck', () => {
  it('names the handlers with an @AuthMaxAge whose events read no session (tier none), once, and says what to do', () => {
    const logged = warnings({ search: 'none', browse: 'none', rename: 'none' });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('@AuthMaxAge on SearchState.search, AccountState.rename: their events run on bridge tier none');
    expect(logged[0]).toContain("@BridgeTier('auth_only')");
    expect(logged[0]).not.toContain('browse');
  });

  it('says nothing where the age is met or can be: auth_only, full, or a resolver that picks the tier per event', () => {
    expect(warnings({ search: 'auth_only', browse: 'none', rename: 'full' })).toEqual([]);
    expect(warnings({ search: 'none', browse: 'none', rename: 'none' }, { bridge: { resolver: () => 'auth_only' } })).toEqual([]);
  });
});

import { describe, expect, it } from '@jest/globals';
import { Injectable, UseGuards, type CanActivate, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import type { HandlerDefinition } from '../../state/state-definition.js';
import { BridgeTier } from './bridge-tier.decorator.js';
import type { BridgeTierResolver } from './bridge-tier-resolver.js';
// The package entry, as an app imports it: the tier union must be nameable there (`BridgeTier` is the decorator).
import type { BridgeEventInfo, BridgeTierName, BridgeTierResolver as PublicBridgeTierResolver } from '../../index.js';
import { TierResolution } from './tier-resolution.service.js';

class Allow implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@BridgeTier('none')
class FilterState {
  setQuery(): void {}
  @BridgeTier('auth_only')
  mine(): void {}
}

class SubFilterState extends FilterState {}

class VaultState {
  @UseGuards(Allow)
  reveal(): void {}
  peek(): void {}
}

function handler(cls: Type, method: string): HandlerDefinition {
  return { fullName: `root.${cls.name}.${method}`, method, state: { cls } as HandlerDefinition['state'], options: {}, params: [], paramTypes: [], streaming: false };
}

async function resolution(options: ReflexBridgeModuleOptions, extra: Type[] = []): Promise<TierResolution> {
  const moduleRef = await Test.createTestingModule({ providers: [TierResolution, Reflector, { provide: RESOLVED_OPTIONS, useValue: resolveOptions(options) }, ...extra] }).compile();
  await moduleRef.init();
  return moduleRef.get(TierResolution);
}

describe('TierResolution', () => {
  it('reads the handler\'s tier before its class\'s, and a class tier only from that class itself', async () => {
    const tiers = await resolution({ bridge: { mode: 'full' } });
    expect(tiers.tierFor(handler(FilterState, 'setQuery'), '/')).toBe('none');
    expect(tiers.tierFor(handler(FilterState, 'mine'), '/')).toBe('auth_only');
    expect(tiers.tierFor(handler(SubFilterState, 'setQuery'), '/')).toBe('full');
    expect(tiers.tierFor(handler(SubFilterState, 'mine'), '/')).toBe('auth_only');
  });

  it('in smart mode, runs guarded handlers on full and the others on none', async () => {
    const tiers = await resolution({ bridge: { mode: 'smart' } });
    expect(tiers.tierFor(handler(VaultState, 'reveal'), '/')).toBe('full');
    expect(tiers.tierFor(handler(VaultState, 'peek'), '/')).toBe('none');
    expect(tiers.staticTierOf(handler(VaultState, 'peek'))).toBe('none');
  });

  it('runs a handler with an upload parameter on at least auth_only, even when its class says none', async () => {
    const tiers = await resolution({ bridge: { mode: 'smart' } });
    const attach: HandlerDefinition = { ...handler(FilterState, 'setQuery'), params: [{ index: 0, kind: 'uploads' }], upload: 'buffered' };
    expect(tiers.tierFor(attach, '/')).toBe('auth_only');
    expect(tiers.staticTierOf(attach)).toBe('auth_only');
    // An upload parameter alone does not make a handler bridge-aware: smart mode keeps it at the floor.
    const chunks: HandlerDefinition = { ...handler(VaultState, 'peek'), params: [{ index: 0, kind: 'upload-chunks' }], upload: 'streaming' };
    expect(tiers.tierFor(chunks, '/')).toBe('auth_only');
  });

  it('profile reflex_only: every event on none, whatever @BridgeTier, guards or uploads say', async () => {
    const tiers = await resolution({ profile: 'reflex_only' });
    const attach: HandlerDefinition = { ...handler(FilterState, 'setQuery'), params: [{ index: 0, kind: 'uploads' }], upload: 'buffered' };
    for (const [definition, pathname] of [[handler(FilterState, 'mine'), '/'], [handler(VaultState, 'reveal'), '/'], [attach, '/_upload']] as const) {
      expect(tiers.tierFor(definition, pathname)).toBe('none');
      expect(tiers.reasonFor(definition, pathname, 'none')).toBe('profile "reflex_only"');
    }
  });

  it('asks an injectable resolver first; a throwing resolver or a non-tier answer falls through', async () => {
    @Injectable()
    class PageResolver implements BridgeTierResolver {
      resolve(_cls: Type, event: { pathname: string }) {
        if (event.pathname === '/boom') throw new Error('boom');
        return event.pathname === '/open' ? 'none' : 'nonsense';
      }
    }
    const tiers = await resolution({ bridge: { mode: 'full', resolver: PageResolver } });
    const reveal = handler(VaultState, 'reveal');
    expect(tiers.tierFor(reveal, '/open')).toBe('none');
    expect(tiers.tierFor(reveal, '/other')).toBe('full');
    expect(tiers.tierFor(reveal, '/boom')).toBe('full');
    expect(tiers.tierFor(reveal, '/_upload/x')).toBe('full');
    expect(tiers.tierFor(handler(FilterState, 'setQuery'), '/_upload/x')).toBe('auth_only');
  });

  it('takes a resolver whose return type names the tiers with the exported BridgeTierName, as the docs show', async () => {
    // Checked by `npm run typecheck` as much as by this test: the declared return type is the point.
    @Injectable()
    class ShopTierResolver implements PublicBridgeTierResolver {
      resolve(stateClass: Type, event: BridgeEventInfo): BridgeTierName | undefined {
        if (event.pathname.startsWith('/account')) return 'auth_only';
        return stateClass.name.endsWith('FilterState') ? 'none' : undefined;
      }
    }
    // @ts-expect-error BridgeTierName is the three tiers, not any string: a typo does not compile.
    const typo: BridgeTierName = 'fastest';
    expect(typo).toBe('fastest');
    const tiers = await resolution({ bridge: { mode: 'full', resolver: ShopTierResolver } });
    expect(tiers.tierFor(handler(VaultState, 'peek'), '/account')).toBe('auth_only');
    expect(tiers.tierFor(handler(SubFilterState, 'setQuery'), '/')).toBe('none');
    expect(tiers.tierFor(handler(VaultState, 'peek'), '/')).toBe('full');
  });
});

import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import type { HandlerDefinition } from '../../state/state-definition.js';
import { AuthOnlyTierGuard } from './auth-only-tier.guard.js';
import { BridgeTierGuard } from './bridge-tier.guard.js';
import { BridgeTierMetadata } from './bridge-tier.decorator.js';
import { FullTierGuard } from './full-tier.guard.js';
import { NoneTierGuard } from './none-tier.guard.js';
import type { TierEvent } from './tier-execution-context.js';
import { TierResolution } from './tier-resolution.service.js';

class PlainState {
  bump(): void {}
  uploadAvatar(): void {}
}

function handlerOf(method: keyof PlainState): HandlerDefinition {
  return {
    fullName: `root.plain_state.${method}`,
    method,
    state: { cls: PlainState, name: 'plain_state', fullName: 'root.plain_state', instance: {} } as HandlerDefinition['state'],
    options: {},
    params: [],
    paramTypes: [],
    streaming: false,
  };
}

/** A hand-made context, as @nestjs/throttler tests its guard: only what the guard may read. */
function contextMock(event: TierEvent): ExecutionContext {
  const args = [undefined, undefined, event];
  return {
    getType: () => 'reflex',
    getClass: () => event.handler.state.cls,
    getHandler: () => event.handler.state.cls.prototype[event.handler.method],
    getArgs: () => args,
    getArgByIndex: (index: number) => args[index],
    switchToHttp: () => ({ getRequest: () => undefined, getResponse: () => undefined, getNext: () => undefined }),
    switchToWs: () => ({ getData: () => event.routerData, getClient: () => undefined, getPattern: () => event.handler.fullName }),
    switchToRpc: () => ({ getData: () => event.routerData, getContext: () => undefined }),
  } as unknown as ExecutionContext;
}

/** One definition per handler, as the state registry holds them. */
const HANDLERS = { bump: handlerOf('bump'), uploadAvatar: handlerOf('uploadAvatar') };

const eventFor = (method: keyof PlainState, pathname = '/'): TierEvent => ({
  tier: 'none',
  handler: HANDLERS[method],
  routerData: { pathname, token: 't', sid: 's', headers: {}, ip: '::1' },
});

const answering = (answer: boolean) => ({ canActivate: jest.fn((_context: ExecutionContext) => answer) }) satisfies CanActivate;

describe('BridgeTierGuard', () => {
  let reflector: { get: jest.Mock };
  let tierGuards: { none: ReturnType<typeof answering>; authOnly: ReturnType<typeof answering>; full: ReturnType<typeof answering> };

  async function guardWith(options: ReflexBridgeModuleOptions): Promise<BridgeTierGuard> {
    reflector = { get: jest.fn(() => undefined) };
    tierGuards = { none: answering(true), authOnly: answering(true), full: answering(false) };
    const moduleRef = await Test.createTestingModule({
      providers: [
        BridgeTierGuard,
        TierResolution,
        { provide: RESOLVED_OPTIONS, useValue: resolveOptions(options) },
        { provide: Reflector, useValue: reflector },
        { provide: NoneTierGuard, useValue: tierGuards.none },
        { provide: AuthOnlyTierGuard, useValue: tierGuards.authOnly },
        { provide: FullTierGuard, useValue: tierGuards.full },
      ],
    }).compile();
    await moduleRef.init();
    return moduleRef.get(BridgeTierGuard);
  }

  beforeEach(() => undefined);

  it('delegates to the mode\'s tier guard, records the tier and answers what that guard answered, synchronously', async () => {
    const guard = await guardWith({ bridge: { mode: 'full' } });
    const event = eventFor('bump');
    const context = contextMock(event);
    expect(guard.canActivate(context)).toBe(false);
    expect(event.tier).toBe('full');
    expect(tierGuards.full.canActivate).toHaveBeenCalledWith(context);
    expect(tierGuards.none.canActivate).not.toHaveBeenCalled();
  });

  it('reads @BridgeTier of the handler through the Reflector, once per handler', async () => {
    const guard = await guardWith({ bridge: { mode: 'full' } });
    reflector.get.mockImplementation(((decorator: unknown, target: unknown) =>
      decorator === BridgeTierMetadata && target === PlainState.prototype.bump ? 'none' : undefined) as never);
    for (let i = 0; i < 3; i++) {
      const event = eventFor('bump');
      expect(guard.canActivate(contextMock(event))).toBe(true);
      expect(event.tier).toBe('none');
    }
    expect(tierGuards.none.canActivate).toHaveBeenCalledTimes(3);
    const tierReads = reflector.get.mock.calls.filter(([decorator]) => decorator === BridgeTierMetadata);
    expect(tierReads).toHaveLength(1); // the handler's; the class has no @BridgeTier of its own
  });

  it('lets a resolver answer first, and raises upload events to auth_only', async () => {
    const guard = await guardWith({ bridge: { mode: 'full', resolver: () => 'none' } });
    const plain = eventFor('bump');
    void guard.canActivate(contextMock(plain));
    expect(plain.tier).toBe('none');
    const upload = eventFor('uploadAvatar');
    void guard.canActivate(contextMock(upload));
    expect(upload.tier).toBe('auth_only');
    const uploadPage = eventFor('bump', '/_upload/files');
    void guard.canActivate(contextMock(uploadPage));
    expect(uploadPage.tier).toBe('auth_only');
  });

  it('lets a subclass pick the tier through its getTier hook', async () => {
    class AlwaysAuthOnly extends BridgeTierGuard {
      protected override getTier(): 'auth_only' {
        return 'auth_only';
      }
    }
    await guardWith({ bridge: { mode: 'none' } });
    const guard = new AlwaysAuthOnly(
      { tierFor: () => 'none' } as unknown as TierResolution,
      tierGuards.none as unknown as NoneTierGuard,
      tierGuards.authOnly as unknown as AuthOnlyTierGuard,
      tierGuards.full as unknown as FullTierGuard,
    );
    const event = eventFor('bump');
    expect(guard.canActivate(contextMock(event))).toBe(true);
    expect(event.tier).toBe('auth_only');
    expect(tierGuards.authOnly.canActivate).toHaveBeenCalledTimes(1);
  });
});

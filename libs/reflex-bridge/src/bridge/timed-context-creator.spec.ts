import { describe, expect, it } from '@jest/globals';
import type { ExternalContextCreator } from '@nestjs/core';
import { timedContextCreator } from './timed-context-creator.js';

describe('timedContextCreator', () => {
  it("answers Nest's own creator when its internals are not the expected ones: enhancers run untimed", () => {
    const unknownInternals = { create: () => undefined } as unknown as ExternalContextCreator;
    expect(timedContextCreator(unknownInternals)).toBe(unknownInternals);
  });

  it('derives a creator whose instance lookups wrap what the original lookups find, leaving the original alone', () => {
    class OpenGuard {
      canActivate(): boolean {
        return true;
      }
    }
    const guard = new OpenGuard();
    const base = {
      guardsContextCreator: { getGuardInstance: () => guard },
      interceptorsContextCreator: { getInterceptorInstance: () => null },
      filtersContextCreator: { getFilterInstance: () => null },
    };
    const timed = timedContextCreator(base as unknown as ExternalContextCreator) as unknown as typeof base;
    expect(timed).not.toBe(base);
    const wrapped = timed.guardsContextCreator.getGuardInstance() as OpenGuard;
    expect(wrapped).not.toBe(guard);
    expect(wrapped).toBeInstanceOf(OpenGuard);
    expect(timed.interceptorsContextCreator.getInterceptorInstance()).toBeNull();
    expect(base.guardsContextCreator.getGuardInstance()).toBe(guard);
  });
});

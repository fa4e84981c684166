import type { FactoryProvider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InvalidOptionError } from '../../invalid-option.error.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import type { TierGuardOptions } from '../bridge.options.js';
import { AuthOnlyTierGuard } from './auth-only-tier.guard.js';
import { FullTierGuard } from './full-tier.guard.js';
import { NoneTierGuard } from './none-tier.guard.js';

/**
 * The providers of the three tier guards, under their own class as token: the built-in guard, or the
 * subclass named in `bridge.tierGuards`, created with DI in the module (so `app.get(AuthOnlyTierGuard)` is the
 * subclass). `overrideProvider(AuthOnlyTierGuard)` in a testing module replaces them as usual.
 */
export function tierGuardProviders(): FactoryProvider[] {
  return [provider(NoneTierGuard, 'none'), provider(AuthOnlyTierGuard, 'authOnly'), provider(FullTierGuard, 'full')];
}

function provider<T extends object>(base: Type<T>, key: keyof TierGuardOptions): FactoryProvider<T> {
  return {
    provide: base,
    inject: [RESOLVED_OPTIONS, ModuleRef],
    useFactory: (options: ResolvedReflexBridgeOptions, moduleRef: ModuleRef): T | Promise<T> => {
      const chosen = (options.bridge.tierGuards?.[key] as Type<T> | undefined) ?? base;
      if (chosen !== base && !(chosen.prototype instanceof base)) {
        throw new InvalidOptionError(`bridge.tierGuards.${key}`, `expected a class extending ${base.name}, got ${chosen.name || 'an anonymous function'}`);
      }
      // Created in the module's scope: the guard's own dependencies (the base class's, plus any global provider).
      return moduleRef.create(chosen);
    },
  };
}

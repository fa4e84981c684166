import type { FactoryProvider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InvalidOptionError } from '../invalid-option.error.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { BridgeErrorPresenter } from './bridge-error.presenter.js';

/**
 * The {@link BridgeErrorPresenter} provider: the built-in one, or the subclass named in `errorPresenter`,
 * created with DI in the module's scope. `overrideProvider(BridgeErrorPresenter)` in a testing module works too.
 */
export const bridgeErrorPresenterProvider: FactoryProvider<BridgeErrorPresenter> = {
  provide: BridgeErrorPresenter,
  inject: [RESOLVED_OPTIONS, ModuleRef],
  useFactory: (options: ResolvedReflexBridgeOptions, moduleRef: ModuleRef): BridgeErrorPresenter | Promise<BridgeErrorPresenter> => {
    const chosen = options.errorPresenter as Type<BridgeErrorPresenter> | undefined;
    if (!chosen) return new BridgeErrorPresenter();
    if (chosen !== BridgeErrorPresenter && !(chosen.prototype instanceof BridgeErrorPresenter)) {
      throw new InvalidOptionError('errorPresenter', `expected a class extending BridgeErrorPresenter, got ${chosen.name || 'an anonymous function'}`);
    }
    return moduleRef.create(chosen);
  },
};

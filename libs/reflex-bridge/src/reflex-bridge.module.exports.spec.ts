import { afterEach, describe, expect, it } from '@jest/globals';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { ReflexBridgeModule } from './reflex-bridge.module.js';
import { REFLEX_BRIDGE_MODULE_OPTIONS } from './reflex-bridge.module-definition.js';
import type { ReflexBridgeModuleOptions } from './reflex-bridge.options.js';
import { ClientStorageVars } from './state/client-storage-vars.service.js';
import { Cookie } from './state/client-storage.decorator.js';
import { State } from './state/state.decorator.js';

@State()
class ThemeState {
  @Cookie({ name: 'theme' })
  theme = 'light';
}

/**
 * A provider of the app's own module injecting what the docs say an app may inject: `ClientStorageVars` (state.md,
 * "Client storage vars": its map is the client's `clientStorage` option) and the raw options
 * (`REFLEX_BRIDGE_MODULE_OPTIONS`, configuration.md).
 */
@Injectable()
class FrontendConfig {
  constructor(
    readonly storage: ClientStorageVars,
    @Inject(REFLEX_BRIDGE_MODULE_OPTIONS) readonly options: ReflexBridgeModuleOptions,
  ) {}
}

@Module({ providers: [FrontendConfig, ThemeState], exports: [FrontendConfig] })
class FrontendModule {}

describe('what an app injects from ReflexBridgeModule', () => {
  let moduleRef: TestingModule | undefined;

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  const registrations = {
    forRoot: () => ReflexBridgeModule.forRoot({ maxQueuedEvents: 7 }),
    forRootAsync: () => ReflexBridgeModule.forRootAsync({ useFactory: () => ({ maxQueuedEvents: 7 }) }),
  };

  for (const [how, register] of Object.entries(registrations)) {
    it(`gives a provider of another module ClientStorageVars and the raw options (${how})`, async () => {
      moduleRef = await Test.createTestingModule({ imports: [register(), FrontendModule] }).compile();
      await moduleRef.init();
      const config = moduleRef.get(FrontendConfig);
      expect(config.storage.map().cookies).toEqual({ 'reflex___state____state.theme_state.theme_rx_state_': expect.objectContaining({ name: 'theme' }) });
      expect(config.options).toEqual({ maxQueuedEvents: 7 });
    });
  }
});

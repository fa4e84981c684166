import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ReflexBridgeModuleOptions } from './reflex-bridge.options.js';

/**
 * The one `ConfigurableModuleBuilder` call: `forRoot` / `forRootAsync` and the raw options token
 * (`REFLEX_BRIDGE_MODULE_OPTIONS`, public: the options as the app gave them).
 * @publicApi
 */
export const {
  ConfigurableModuleClass: ReflexBridgeConfigurableModule,
  MODULE_OPTIONS_TOKEN: REFLEX_BRIDGE_MODULE_OPTIONS,
  OPTIONS_TYPE: REFLEX_BRIDGE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: REFLEX_BRIDGE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ReflexBridgeModuleOptions>({ moduleName: 'ReflexBridge' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createReflexBridgeOptions')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal === true }))
  .build();

/** DI token of the {@link ResolvedReflexBridgeOptions}. */
export const RESOLVED_OPTIONS = Symbol('ReflexBridgeResolvedOptions');

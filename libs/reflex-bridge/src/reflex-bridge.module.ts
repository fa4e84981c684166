import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { REFLEX_BRIDGE_MODULE_OPTIONS, RESOLVED_OPTIONS, ReflexBridgeConfigurableModule } from './reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions, type ResolvedReflexBridgeOptions } from './reflex-bridge.options.js';
import { StateStore } from './state/store/state-store.js';
import { InMemoryStateStore } from './state/store/in-memory-state.store.js';
import { StateRegistry } from './state/state-registry.service.js';
import { ReflexStateService } from './state/reflex-state.service.js';
import { EventPipeline } from './pipeline/event-pipeline.service.js';
import { EventGateway } from './gateway/event.gateway.js';
import { ClientRegistry } from './gateway/client-registry.js';
import { BridgeRunner } from './bridge/bridge-runner.service.js';
import { CookieHandoffService } from './bridge/cookie-handoff.service.js';
import { CookieHandoffRoute } from './bridge/cookie-handoff.route.js';
import { EventCacheService } from './cache/event-cache.service.js';
import { BridgeMetrics } from './metrics/bridge-metrics.service.js';

/**
 * Serves a Reflex-style reactive UI from a Nest app: `@State()` classes driven over the `/_event` socket,
 * with the app's request pipeline around each event as far as its bridge tier asks.
 * @example
 * ```ts
 * @Module({ imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'smart' } })], providers: [CounterState] })
 * export class AppModule {}
 * ```
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RESOLVED_OPTIONS,
      useFactory: (options: ReflexBridgeModuleOptions) => resolveOptions(options),
      inject: [REFLEX_BRIDGE_MODULE_OPTIONS],
    },
    {
      provide: StateStore,
      useFactory: (options: ResolvedReflexBridgeOptions) => options.stateStore ?? new InMemoryStateStore({ ttlSeconds: options.stateTtlSeconds }),
      inject: [RESOLVED_OPTIONS],
    },
    StateRegistry,
    ClientRegistry,
    CookieHandoffService,
    CookieHandoffRoute,
    EventCacheService,
    BridgeMetrics,
    BridgeRunner,
    EventPipeline,
    EventGateway,
    ReflexStateService,
  ],
  exports: [StateStore, ReflexStateService, EventCacheService, EventGateway, RESOLVED_OPTIONS],
})
export class ReflexBridgeModule extends ReflexBridgeConfigurableModule {}

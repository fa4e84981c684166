import { type DynamicModule, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import {
  REFLEX_BRIDGE_MODULE_OPTIONS,
  REFLEX_BRIDGE_OPTIONS_TYPE,
  RESOLVED_OPTIONS,
  ReflexBridgeConfigurableModule,
} from './reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions, type ResolvedReflexBridgeOptions } from './reflex-bridge.options.js';
import { StateStore } from './state/store/state-store.js';
import { InMemoryStateStore } from './state/store/in-memory-state.store.js';
import { StateRegistry } from './state/state-registry.service.js';
import { ReflexStateService } from './state/reflex-state.service.js';
import { EventPipeline } from './pipeline/event-pipeline.service.js';
import { EventGateway } from './gateway/event.gateway.js';
import { ClientRegistry } from './gateway/client-registry.js';
import { BridgeRunner } from './bridge/bridge-runner.service.js';
import { TierResolution } from './bridge/tier-resolution.service.js';
import { RequestBuilder } from './bridge/request-builder.service.js';
import { SessionHandoff } from './bridge/session-handoff.service.js';
import { SnapshotWriter } from './bridge/snapshot-writer.service.js';
import { UserEnhancers } from './bridge/user-enhancers.service.js';
import { BridgeTierGuard } from './bridge/bridge-tier.guard.js';
import { NoneTierGuard } from './bridge/none-tier.guard.js';
import { AuthOnlyTierGuard } from './bridge/auth-only-tier.guard.js';
import { FullTierGuard } from './bridge/full-tier.guard.js';
import { tierGuardProviders } from './bridge/tier-guard.providers.js';
import { CookieHandoffService } from './bridge/cookie-handoff.service.js';
import { CookieHandoffRoute } from './bridge/cookie-handoff.route.js';
import { SessionTracker } from './bridge/session-tracker.service.js';
import { EventCacheService } from './cache/event-cache.service.js';
import { BridgeMetrics } from './metrics/bridge-metrics.service.js';
import { RedisStateStore } from './state/store/redis-state.store.js';
import { LIVE_OPTIONS, type LiveOptions } from './live/live.options.js';
import { LiveBroadcaster } from './live/live-broadcaster.service.js';
import { LiveListSubscriptions } from './live/live-list-subscriptions.service.js';
import { RedisTransport } from './live/transports/redis.transport.js';
import { OriginPolicy } from './security/origin-policy.js';
import { SameOriginMiddleware } from './security/same-origin.middleware.js';
import { RATE_LIMIT_STORAGE } from './security/rate-limit-storage.js';
import { InMemoryThrottlerStorage } from './security/in-memory-throttler.storage.js';
import { RedisThrottlerStorage } from './security/redis-throttler.storage.js';
import { EventRateLimiter } from './security/event-rate-limiter.service.js';
import { TokenOwnership } from './security/token-ownership.service.js';
import { SessionStoreWatcher } from './security/session-store.watcher.js';

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
      useFactory: (options: ResolvedReflexBridgeOptions) =>
        options.stateStore ??
        (options.redisUrl
          ? new RedisStateStore({ url: options.redisUrl, ttlSeconds: options.stateTtlSeconds, unusedTtlSeconds: options.unusedStateTtlSeconds })
          : new InMemoryStateStore({ ttlSeconds: options.stateTtlSeconds, unusedTtlSeconds: options.unusedStateTtlSeconds })),
      inject: [RESOLVED_OPTIONS],
    },
    {
      provide: LIVE_OPTIONS,
      useFactory: (options: ResolvedReflexBridgeOptions): LiveOptions => ({
        ...options.live,
        transport: options.live.transport ?? (options.redisUrl ? new RedisTransport({ url: options.redisUrl }) : undefined),
      }),
      inject: [RESOLVED_OPTIONS],
    },
    {
      // One policy for the event socket, the cookie handoff and the app's SameOriginMiddleware.
      provide: OriginPolicy,
      useFactory: (options: ResolvedReflexBridgeOptions) => new OriginPolicy({ allowedOrigins: options.corsOrigins, trustProxy: options.bridge.trustProxy }),
      inject: [RESOLVED_OPTIONS],
    },
    SameOriginMiddleware,
    {
      // Where @Throttle handler limits count; exported so the app's ThrottlerModule can share it for HTTP routes.
      provide: RATE_LIMIT_STORAGE,
      useFactory: (options: ResolvedReflexBridgeOptions) =>
        options.rateLimit.storage ??
        (options.redisUrl
          ? new RedisThrottlerStorage({ url: options.redisUrl, keyPrefix: options.rateLimit.keyPrefix })
          : new InMemoryThrottlerStorage()),
      inject: [RESOLVED_OPTIONS],
    },
    EventRateLimiter,
    LiveBroadcaster,
    LiveListSubscriptions,
    StateRegistry,
    ClientRegistry,
    CookieHandoffService,
    CookieHandoffRoute,
    EventCacheService,
    BridgeMetrics,
    TierResolution,
    RequestBuilder,
    SessionHandoff,
    SnapshotWriter,
    UserEnhancers,
    ...tierGuardProviders(),
    BridgeTierGuard,
    BridgeRunner,
    SessionTracker,
    TokenOwnership,
    SessionStoreWatcher,
    EventPipeline,
    EventGateway,
    ReflexStateService,
  ],
  exports: [StateStore, ReflexStateService, EventCacheService, LiveBroadcaster, EventGateway, OriginPolicy, SameOriginMiddleware, RESOLVED_OPTIONS, RATE_LIMIT_STORAGE, BridgeTierGuard, NoneTierGuard, AuthOnlyTierGuard, FullTierGuard],
})
export class ReflexBridgeModule extends ReflexBridgeConfigurableModule implements OnApplicationShutdown {
  constructor(private readonly store: StateStore) {
    super();
  }

  /** Configures the module; every option has a default, so `forRoot()` alone serves an in-memory app. */
  static override forRoot(options: typeof REFLEX_BRIDGE_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  /** The module owns the state store (given or default): close its timers and connections with the app. */
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

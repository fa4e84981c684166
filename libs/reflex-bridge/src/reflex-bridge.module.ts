import { type DynamicModule, Inject, Logger, Module, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import {
  REFLEX_BRIDGE_ASYNC_OPTIONS_TYPE,
  REFLEX_BRIDGE_MODULE_OPTIONS,
  REFLEX_BRIDGE_OPTIONS_TYPE,
  RESOLVED_OPTIONS,
  ReflexBridgeConfigurableModule,
} from './reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions, type ResolvedReflexBridgeOptions } from './reflex-bridge.options.js';
import { StateStore } from './state/store/state-store.js';
import { InMemoryStateStore } from './state/store/in-memory-state.store.js';
import { StateRegistry } from './state/state-registry.service.js';
import { OnLoadRoutes } from './state/on-load-routes.service.js';
import { ClientStorageVars } from './state/client-storage-vars.service.js';
import { ReflexStateService } from './reflex-state.service.js';
import { EventPipeline } from './pipeline/event-pipeline.service.js';
import { FrontendExceptionLog } from './pipeline/frontend-exception-log.js';
import { bridgeErrorPresenterProvider } from './pipeline/bridge-error-presenter.provider.js';
import { EventGateway } from './gateway/event.gateway.js';
import { clusterLinkProvider } from './gateway/cluster-link.provider.js';
import { tokenRecordKey } from './gateway/cluster-link.js';
import { ClientRegistry } from './gateway/client-registry.js';
import { BridgeRunner } from './bridge/bridge-runner.service.js';
import { TierResolution } from './bridge/tiers/tier-resolution.service.js';
import { RequestBuilder } from './bridge/request/request-builder.service.js';
import { SessionHandoff } from './bridge/session/session-handoff.service.js';
import { SnapshotWriter } from './bridge/session/snapshot-writer.service.js';
import { UserEnhancers } from './bridge/user-enhancers.service.js';
import { BridgeTierGuard } from './bridge/tiers/bridge-tier.guard.js';
import { NoneTierGuard } from './bridge/tiers/none-tier.guard.js';
import { AuthOnlyTierGuard } from './bridge/tiers/auth-only-tier.guard.js';
import { FullTierGuard } from './bridge/tiers/full-tier.guard.js';
import { tierGuardProviders } from './bridge/tiers/tier-guard.providers.js';
import { CookieHandoffService } from './bridge/session/cookie-handoff.service.js';
import { CookieHandoffRoute } from './bridge/session/cookie-handoff.route.js';
import { SessionTracker } from './gateway/session-tracker.service.js';
import { SessionEndings } from './common/session-endings.js';
import { RecentSessionSaves } from './bridge/session/recent-session-saves.js';
import { RecentSessionEnds } from './common/recent-session-ends.js';
import { SessionStoreObserver } from './common/session-store-observer.js';
import { SessionSightings } from './common/session-sightings.js';
import { ConnectionLifecycle } from './common/connection-lifecycle.js';
import { EventCacheService } from './cache/event-cache.service.js';
import { BridgeMetrics } from './metrics/bridge-metrics.service.js';
import { EventRecorder } from './metrics/event-recorder.js';
import { MetricsRoute } from './metrics/metrics.route.js';
import { BridgeDevtools } from './devtools/bridge-devtools.service.js';
import { DevtoolsHistograms } from './devtools/devtools-histograms.js';
import { DevtoolsRoute } from './devtools/devtools.route.js';
import { DevtoolsExposureCheck } from './devtools/devtools-exposure.check.js';
import { RedisStateStore } from './state/store/redis-state.store.js';
import { LIVE_OPTIONS, type LiveOptions } from './live/live.options.js';
import { LiveBroadcaster } from './live/live-broadcaster.service.js';
import { LiveListSubscriptions } from './live/live-list-subscriptions.service.js';
import { RedisTransport } from './live/transports/redis.transport.js';
import { OriginPolicy } from './security/origin-policy.js';
import { SameOriginMiddleware } from './security/same-origin.middleware.js';
import { RequestTargetMiddleware } from './security/request-target.middleware.js';
import { RATE_LIMIT_STORAGE } from './security/rate-limit-storage.js';
import { InMemoryThrottlerStorage } from './security/in-memory-throttler.storage.js';
import { RedisThrottlerStorage } from './security/redis-throttler.storage.js';
import { EventRateLimiter } from './security/event-rate-limiter.service.js';
import { TokenOwnership } from './security/token-ownership.service.js';
import { SessionStoreWatcher } from './security/session-store.watcher.js';
import { LiveLabelCheck } from './live/live-label.check.js';
import { AuthMaxAgeCheck } from './bridge/tiers/auth-max-age.check.js';
import { RedisConnections } from './common/redis-connections.js';
import { KEYV_REDIS, loadRedisKeyv } from './common/keyv-redis.loader.js';
import { ReflexRoutes } from './health/reflex-routes.route.js';
import { NoStorePaths } from './spa/no-store-paths.js';
import { UploadRoute } from './upload/upload.route.js';
import { UploadLeftoverSweeper } from './upload/upload-leftover.sweeper.js';
import { ExpressAdapterRequirement } from './common/express-adapter.requirement.js';
import { UploadedFileServer } from './upload/uploaded-file-server.js';
import { ReflexHealth } from './health/reflex-health.service.js';
import { StateStoreHealthIndicator } from './health/state-store.health-indicator.js';
import { LiveTransportHealthIndicator } from './health/live-transport.health-indicator.js';
import { DatabaseHealthIndicator } from './health/database.health-indicator.js';
import { RedisSubscriberHealthIndicator } from './health/redis-subscriber.health-indicator.js';
import { BridgeSecurityAudit } from './audit/bridge-security-audit.service.js';
import { DevServerProxy } from './spa/dev-server.proxy.js';
import { spaServeStaticImport } from './spa/spa-serve-static.import.js';
import { InvalidOptionError } from './invalid-option.error.js';
import { DEADLINE_PASSED, withinDeadline } from './common/deadline.js';

/**
 * Milliseconds the app waits at start for a state store it was given (see `ReflexBridgeModule.onApplicationBootstrap`):
 * the shared connections' wait on one Redis.
 */
const START_WAIT_MS = 5_000;

/**
 * Serves a Reflex-style reactive UI from a Nest app: `@State()` classes driven over the `/_event` socket,
 * with the app's request pipeline around each event as far as its bridge tier asks.
 * @example
 * ```ts
 * @Module({ imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'smart' } })], providers: [CounterState] })
 * export class AppModule {}
 * ```
 * @publicApi
 */
@Module({
  // Terminus logs every failed run, which a public /_health would turn into one error line per request during an
  // outage: ReflexHealth logs when the failing checks change instead.
  imports: [DiscoveryModule, TerminusModule.forRoot({ logger: false })],
  providers: [
    // First: an app on another HTTP adapter than Express stops here, before any route is registered.
    ExpressAdapterRequirement,
    {
      provide: RESOLVED_OPTIONS,
      useFactory: (options: ReflexBridgeModuleOptions) => resolveOptions(givenOptions(options)),
      inject: [REFLEX_BRIDGE_MODULE_OPTIONS],
    },
    {
      // With redisUrl (or redisCluster): the worker's two Redis connections (rx:commands, rx:subscriber), shared by
      // everything below that talks to Redis; closed by the module after all of them. Without either: null.
      provide: RedisConnections,
      useFactory: (options: ResolvedReflexBridgeOptions) =>
        options.redisUrl
          ? RedisConnections.create({ url: options.redisUrl })
          : options.redisCluster
            ? RedisConnections.create({ cluster: options.redisCluster })
            : null,
      inject: [RESOLVED_OPTIONS],
    },
    {
      // @keyv/redis (and node-redis with it) only for a module that keeps its event cache or cookie handoffs in Redis.
      provide: KEYV_REDIS,
      useFactory: (options: ResolvedReflexBridgeOptions) =>
        options.redisUrl !== undefined || options.redisCluster !== undefined || options.eventCache.redisUrl !== undefined ? loadRedisKeyv() : null,
      inject: [RESOLVED_OPTIONS],
    },
    {
      provide: StateStore,
      useFactory: (options: ResolvedReflexBridgeOptions, connections: RedisConnections | null, clients: ClientRegistry) =>
        options.stateStore ??
        (connections
          ? new RedisStateStore({
              connections,
              ttlSeconds: options.stateTtlSeconds,
              unusedTtlSeconds: options.unusedStateTtlSeconds,
              memoryLimitBytes: options.redisMemoryLimitBytes,
              // An open tab's state is never dropped over the limit: its token has a record while a socket holds it.
              openTabKey: tokenRecordKey,
            })
          : new InMemoryStateStore({
              ttlSeconds: options.stateTtlSeconds,
              unusedTtlSeconds: options.unusedStateTtlSeconds,
              maxBytes: options.maxInMemoryStateBytes,
              // An open tab's state is never dropped over the budget (see maxInMemoryStateBytes).
              isConnected: (token) => clients.get(token) !== undefined,
            })),
      inject: [RESOLVED_OPTIONS, RedisConnections, ClientRegistry],
    },
    {
      provide: LIVE_OPTIONS,
      useFactory: (options: ResolvedReflexBridgeOptions, connections: RedisConnections | null): LiveOptions => ({
        ...options.live,
        transport: options.live.transport ?? (connections ? new RedisTransport({ connections }) : undefined),
      }),
      inject: [RESOLVED_OPTIONS, RedisConnections],
    },
    {
      // One policy for the event socket, the cookie handoff and the app's SameOriginMiddleware.
      provide: OriginPolicy,
      useFactory: (options: ResolvedReflexBridgeOptions) => new OriginPolicy({ allowedOrigins: options.corsOrigins, trustProxy: options.bridge.trustProxy }),
      inject: [RESOLVED_OPTIONS],
    },
    SameOriginMiddleware,
    RequestTargetMiddleware,
    {
      // Where @Throttle handler limits count; exported so the app's ThrottlerModule can share it for HTTP routes.
      provide: RATE_LIMIT_STORAGE,
      useFactory: (options: ResolvedReflexBridgeOptions, connections: RedisConnections | null) =>
        options.rateLimit.storage ??
        (connections
          ? new RedisThrottlerStorage({ connections, keyPrefix: options.rateLimit.keyPrefix })
          : new InMemoryThrottlerStorage()),
      inject: [RESOLVED_OPTIONS, RedisConnections],
    },
    EventRateLimiter,
    LiveBroadcaster,
    LiveListSubscriptions,
    // Warns about a @LiveList label that looks like a misspelt registered one, once the app listens.
    LiveLabelCheck,
    StateRegistry,
    OnLoadRoutes,
    ClientStorageVars,
    ClientRegistry,
    CookieHandoffService,
    CookieHandoffRoute,
    EventCacheService,
    BridgeMetrics,
    MetricsRoute,
    TierResolution,
    // Warns at startup about an @AuthMaxAge on handlers whose tier reads no session.
    AuthMaxAgeCheck,
    RequestBuilder,
    SessionHandoff,
    SnapshotWriter,
    UserEnhancers,
    ...tierGuardProviders(),
    BridgeTierGuard,
    BridgeRunner,
    SessionTracker,
    SessionEndings,
    SessionStoreObserver,
    RecentSessionSaves,
    RecentSessionEnds,
    SessionSightings,
    ConnectionLifecycle,
    TokenOwnership,
    SessionStoreWatcher,
    EventPipeline,
    FrontendExceptionLog,
    bridgeErrorPresenterProvider,
    clusterLinkProvider,
    ReflexStateService,
    // `Cache-Control: no-store` by default on the module's own paths (errors nobody else wrote a header for).
    NoStorePaths,
    // Reflex's HTTP routes (ping, health) and the health indicators behind them.
    StateStoreHealthIndicator,
    LiveTransportHealthIndicator,
    DatabaseHealthIndicator,
    RedisSubscriberHealthIndicator,
    ReflexHealth,
    ReflexRoutes,
    // Reflex's uploads (`POST <prefix>/_upload`) and the files stored for them (`GET <prefix>/_upload/<path>`).
    UploadedFileServer,
    UploadRoute,
    // What uploads interrupted by a crash left on disk, removed once at startup.
    UploadLeftoverSweeper,
    // Devtools (development only): the recorder the metrics layer hands each event to, and their routes.
    BridgeDevtools,
    { provide: EventRecorder, useExisting: BridgeDevtools },
    DevtoolsHistograms,
    DevtoolsRoute,
    DevtoolsExposureCheck,
    // The security review at startup (production: true, or an explicit `audit`).
    BridgeSecurityAudit,
    // profile "split_dev": the frontend proxied to its dev server (registers nothing in the other profiles).
    DevServerProxy,
  ],
  exports: [
    // The options as the app gave them (docs/configuration.md): a module of the app injects them by this token.
    REFLEX_BRIDGE_MODULE_OPTIONS,
    StateStore,
    BridgeDevtools,
    ReflexStateService,
    EventCacheService,
    LiveBroadcaster,
    // Its map() is the clientStorage option of @reflex-bridge/client (docs/state.md, "Client storage vars").
    ClientStorageVars,
    EventGateway,
    OriginPolicy,
    SameOriginMiddleware,
    RequestTargetMiddleware,
    RESOLVED_OPTIONS,
    RATE_LIMIT_STORAGE,
    RedisConnections,
    BridgeTierGuard,
    NoneTierGuard,
    AuthOnlyTierGuard,
    FullTierGuard,
    StateStoreHealthIndicator,
    LiveTransportHealthIndicator,
    DatabaseHealthIndicator,
    ReflexHealth,
    BridgeSecurityAudit,
  ],
})
export class ReflexBridgeModule extends ReflexBridgeConfigurableModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');

  constructor(
    private readonly store: StateStore,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {
    super();
  }

  /** Configures the module; every option has a default, so `forRoot()` alone serves an in-memory app. */
  static override forRoot(options: typeof REFLEX_BRIDGE_OPTIONS_TYPE = {}): DynamicModule {
    // Checked here, where the mistake is made: later it was a bare TypeError (null), an option named "0" (a string),
    // or an array started on the defaults.
    givenOptions(options, 'forRoot');
    isGlobalOption(options.isGlobal);
    const module = withEventGateway(super.forRoot(options));
    // The SPA (`spa`), served on @nestjs/serve-static: imported only when asked for.
    return options.spa ? { ...module, imports: [...(module.imports ?? []), spaServeStaticImport({ options })] } : module;
  }

  /** Configures the module from a factory (`useFactory`, `useClass` or `useExisting`), for options known only at runtime. */
  static override forRootAsync(options: typeof REFLEX_BRIDGE_ASYNC_OPTIONS_TYPE): DynamicModule {
    isGlobalOption(options?.isGlobal);
    return withAsyncSpa(withEventGateway(super.forRootAsync(options)), options.isGlobal !== false);
  }

  /**
   * With `redisUrl` or `redisCluster`, the app does not listen before the shared Redis connections are ready, for up
   * to {@link RedisConnections.startWaitMs} (5 s; 12 s on a Redis Cluster, where one attempt may take 7 s), however
   * many attempts fail meanwhile: Nest opens the port (`app.listen`) only after
   * this hook, and a tab let in before then was refused `state_store_unavailable` (its token's owner cannot be read),
   * as was every tab a process manager or Node's cluster sent to a worker whose first connection attempt had failed
   * (a Redis restarting, or a loaded machine that timed the attempt out) until it connected. A `stateStore` the app
   * made itself (its own Redis URL) is waited for the same way and as long ({@link StateStore.whenReady}): a tab let in
   * before it connected was told "The state store is unavailable" (state_unavailable) at its hydrate and stayed
   * blank. Past the bound the app starts without them, as before, serving structured errors until Redis answers.
   */
  async onApplicationBootstrap(): Promise<void> {
    const starting = (error: unknown) =>
      this.logger.warn(`${(error as Error)?.message ?? String(error)}; starting without it: tabs are refused or told the state store is unavailable, and events fail, until it answers.`);
    await Promise.all([
      this.connections && !this.connections.isClosed ? this.connections.ready(this.connections.startWaitMs).catch(starting) : undefined,
      this.store.whenReady
        ? withinDeadline(this.store.whenReady(START_WAIT_MS), START_WAIT_MS + 1_000).catch((error: unknown) =>
            starting(error === DEADLINE_PASSED ? new Error(`The state store was not ready within ${START_WAIT_MS} ms`) : error),
          )
        : undefined,
    ]);
  }

  /**
   * The module owns the state store (given or default) and the shared Redis connections: close them with the app.
   * Nest calls this after every provider's own shutdown hook, so the connections close last, once nothing uses
   * them any more (the store still releases its locks over them first).
   */
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
    await this.connections?.close();
  }
}

/**
 * The options as `forRoot` or the `forRootAsync` factory gave them, refused when they are no object, naming which of
 * the two got them (`from`). A factory that returns nothing (`(config) => { redisUrl: config.get('REDIS_URL') }`: the
 * braces make a block) otherwise started the app on in-memory defaults without a word, and one that returned `null`
 * failed with a bare `TypeError`.
 */
function givenOptions(options: unknown, from: 'forRoot' | 'forRootAsync' = 'forRootAsync'): ReflexBridgeModuleOptions {
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) return options as ReflexBridgeModuleOptions;
  const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options === 'undefined' ? 'undefined' : `a ${typeof options}`;
  if (from === 'forRoot') throw new InvalidOptionError('forRoot', `expected an options object ({} or nothing for the defaults), got ${got}`);
  throw new InvalidOptionError('forRootAsync', `the options factory returned ${got}: return an options object ({} for the defaults)`);
}

/**
 * `isGlobal`, a boolean like every boolean option. It never reaches {@link resolveOptions} (the module builder takes it
 * out of the options), and the builder makes the module global only for `true`: the string `"true"` a config service
 * returns left the module silently not global, and every module injecting `ReflexStateService` failed to resolve it.
 */
function isGlobalOption(value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new InvalidOptionError('isGlobal', `expected true or false, got ${JSON.stringify(value)} (${typeof value})`);
  }
}

/**
 * Adds this configuration's `/_event` gateway: a subclass of {@link EventGateway} of its own, because the gateway
 * writes its options (resolved, possibly asynchronously) onto its class, which Nest reads when the app initialises.
 * Two apps in one process then never share gateway options.
 */
function withEventGateway(module: DynamicModule): DynamicModule {
  class ReflexEventGateway extends EventGateway {}
  return { ...module, providers: [...(module.providers ?? []), ReflexEventGateway, { provide: EventGateway, useExisting: ReflexEventGateway }] };
}

/**
 * With `forRootAsync` whether `spa` is set is known only once the factory ran, so the SPA's serve-static module is
 * always imported (it serves nothing without `spa`). It reads the resolved options through DI, which reaches them
 * when the module is global (the default); a non-global async module refuses `spa` at startup rather than ignore it.
 */
function withAsyncSpa(module: DynamicModule, global: boolean): DynamicModule {
  if (global) return { ...module, imports: [...(module.imports ?? []), spaServeStaticImport({ fromResolvedOptions: true })] };
  const refuseSpa = {
    provide: Symbol('ReflexSpaNeedsGlobal'),
    useFactory: (options: ResolvedReflexBridgeOptions) => {
      if (options.spa) throw new InvalidOptionError('spa', 'with forRootAsync, serving the SPA needs the module to be global (isGlobal: true, the default), or use forRoot');
      return true;
    },
    inject: [RESOLVED_OPTIONS],
  };
  return { ...module, providers: [...(module.providers ?? []), refuseSpa] };
}

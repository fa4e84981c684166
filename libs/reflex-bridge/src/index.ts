/**
 * The public API of `@reflex-bridge/nest`, in sections. Named exports only; everything else is internal and may
 * change. Each exported class or function carries `@publicApi` in its documentation.
 * @packageDocumentation
 */

// ─── The module and its options ────────────────────────────────────────────────────────────────────────────────
export { ReflexBridgeModule } from './reflex-bridge.module.js';
export { REFLEX_BRIDGE_MODULE_OPTIONS } from './reflex-bridge.module-definition.js';
export type { ReflexBridgeModuleOptions } from './reflex-bridge.options.js';
export type { BridgeOptions, MirrorOptions, TierGuardOptions } from './bridge/bridge.options.js';
export type { EventCacheOptions, FastAuthOptions, AuthSnapshot, EventCacheInvalidation } from './cache/event-cache.options.js';
export type { SessionStoreOptions } from './security/session-store.options.js';
export type { RateLimitOptions, RateLimitWindow } from './security/rate-limit.options.js';
export type { MetricsOptions, BridgePhase } from './metrics/metrics.options.js';
export type { DevtoolsOptions } from './devtools/devtools.options.js';
export { BridgeDevtools } from './devtools/bridge-devtools.service.js';
export type { InspectionFilter } from './devtools/bridge-devtools.service.js';
export type { EventInspection } from './devtools/event-inspection.js';
export type { TierAdvice } from './devtools/tier-advice.js';
export type { TraceStep, TraceQuery } from './metrics/event-trace.js';
export { DevtoolsQuerySubscriber } from './devtools/devtools-query.subscriber.js';
export type { LiveOptions } from './live/live.options.js';
export type { ReflexRoutesOptions } from './health/reflex-routes.options.js';
export type { UploadOptions } from './upload/upload.options.js';
export type { SpaOptions, DevServerOptions, ReflexProfile } from './spa/spa.options.js';
export type { RouterVarsOption, RouterVarsShape } from './protocol/router-vars-shape.js';
export { InvalidOptionError } from './invalid-option.error.js';

// ─── States and handlers ───────────────────────────────────────────────────────────────────────────────────────
export { State, type StateOptions } from './state/state.decorator.js';
export { EventHandler, type EventHandlerOptions } from './state/event-handler.decorator.js';
export { Payload, EventRequest, EventUser, EventSession, RouteParam, EventUploads, EventUploadChunks, EventUploadSignal, type HandlerUploadMode, type PayloadPipe } from './state/event-param.decorator.js';
export { OnLoad } from './state/on-load.decorator.js';
export type { RouteParams } from './protocol/route-pattern.js';
export { Cookie, LocalStorage, SessionStorage, type CookieOptions, type LocalStorageOptions, type SessionStorageOptions, type ClientStorageKind } from './state/client-storage.decorator.js';
export { ClientStorageVars, type ClientStorageMap } from './state/client-storage-vars.service.js';
export { AppState } from './bridge/session/app-state.js';
export { currentRequest, currentUser, currentSession, currentToken, NoRequestError } from './bridge/request/event-context.js';
export {
  redirect,
  serverEvent,
  callFunction,
  runScript,
  callScript,
  consoleLog,
  windowAlert,
  toast,
  setFocus,
  blurFocus,
  setValue,
  download,
  removeCookie,
  clearLocalStorage,
  removeLocalStorage,
  clearSessionStorage,
  removeSessionStorage,
  type ClientEvent,
  type ServerEvent,
  type RedirectOptions,
  type ScriptOptions,
  type ToastOptions,
  type ToastLevel,
  type DownloadOptions,
  type DownloadData,
  type RemoveCookieOptions,
} from './protocol/client-event.js';
export { jsString, jsValue } from './protocol/js-literal.js';

// ─── Reaching clients from outside events ──────────────────────────────────────────────────────────────────────
export { ReflexStateService } from './reflex-state.service.js';
export { UnknownClientTokenError } from './state/unknown-client-token.error.js';
export { EventGateway } from './gateway/event.gateway.js';
export { BridgeIoAdapter } from './gateway/bridge-io.adapter.js';

// ─── Bridge tiers: decorator, resolver, guards ─────────────────────────────────────────────────────────────────
export { BridgeTier } from './bridge/tiers/bridge-tier.decorator.js';
export { AuthMaxAge } from './bridge/tiers/auth-max-age.decorator.js';
export type { BridgeMode, BridgeTierName } from './bridge/tiers/bridge-tier.js';
export type { BridgeTierResolver, BridgeTierResolverFn, BridgeEventInfo } from './bridge/tiers/bridge-tier-resolver.js';
export { BridgeTierGuard } from './bridge/tiers/bridge-tier.guard.js';
export { NoneTierGuard } from './bridge/tiers/none-tier.guard.js';
export { AuthOnlyTierGuard } from './bridge/tiers/auth-only-tier.guard.js';
export { FullTierGuard } from './bridge/tiers/full-tier.guard.js';
export { MiddlewareTierGuard } from './bridge/tiers/middleware-tier.guard.js';
export { TierExecutionContext, REFLEX_CONTEXT_TYPE, outcomeOf, type TierEvent } from './bridge/tiers/tier-execution-context.js';
export type { BridgeOutcome } from './bridge/bridge-outcome.js';
export { SyntheticRequest } from './bridge/request/synthetic-request.js';
export { SyntheticResponse } from './bridge/request/synthetic-response.js';

// ─── Sessions, cookies, the event cache ────────────────────────────────────────────────────────────────────────
export { EventCacheService } from './cache/event-cache.service.js';
export { SessionNotLoadedError } from './bridge/session/fast-auth.js';
export { SESSION_COOKIE_EVENT } from './bridge/session/session-handoff.service.js';
export { SESSION_COOKIE_PAYLOAD_KEY } from './bridge/session/cookie-handoff.event.js';
export { HANDOFF_SECRET_HEADER, CLIENT_TOKEN_HEADER } from './bridge/session/cookie-handoff.route.js';

// ─── Security ──────────────────────────────────────────────────────────────────────────────────────────────────
export { OriginPolicy, ORIGIN_NOT_ALLOWED_MESSAGE, type OriginPolicyOptions, type OriginVerdict, type OriginCheckedRequest } from './security/origin-policy.js';
export { SameOriginMiddleware } from './security/same-origin.middleware.js';
export { RequestTargetMiddleware } from './security/request-target.middleware.js';
export { RATE_LIMIT_STORAGE, type RateLimitStorage } from './security/rate-limit-storage.js';
export { InMemoryThrottlerStorage, type InMemoryThrottlerStorageOptions } from './security/in-memory-throttler.storage.js';
export { RedisThrottlerStorage, type RedisThrottlerStorageOptions } from './security/redis-throttler.storage.js';

// ─── State stores and Redis ────────────────────────────────────────────────────────────────────────────────────
export { StateStore, LockLostError, type StateLease, type StoredState, type SaveOptions } from './state/store/state-store.js';
export { StateStoreError, type StateStoreErrorCode } from './state/store/state-store.error.js';
export { InMemoryStateStore, type InMemoryStateStoreOptions } from './state/store/in-memory-state.store.js';
export { RedisStateStore, type RedisMemorySettings, type RedisStateStoreOptions } from './state/store/redis-state.store.js';
export { RedisConnections, type RedisConnectionsOptions, type RedisAdapterClients } from './common/redis-connections.js';
export { RedisClusterClient, type RedisCluster } from './common/redis-cluster.client.js';
export type { RedisClusterOptions } from './common/redis-cluster.options.js';

// ─── Live updates ──────────────────────────────────────────────────────────────────────────────────────────────
export { ModelChange, type ModelChangeAction, type ModelChangeJSON, type ChangeOrigin } from './live/model-change.js';
export { LiveBroadcaster, type LiveSubscribeOptions } from './live/live-broadcaster.service.js';
export { LiveSubscription } from './live/live-subscription.js';
export { LiveList, type LiveListOptions } from './live/live-list.decorator.js';
export { LiveTransport, type LiveTransportStatus } from './live/live-transport.js';
export { LiveTransportError, type LiveTransportErrorCode } from './live/live-transport.error.js';
export { InProcessTransport, type InProcessTransportOptions } from './live/transports/in-process.transport.js';
export { RedisTransport, type RedisTransportOptions } from './live/transports/redis.transport.js';
export { PostgresTransport, type PostgresTransportOptions } from './live/transports/postgres.transport.js';
export { registerLiveModel, unregisterLiveModel, isLiveModel, liveModelLabel, type LiveModelTarget } from './live/live-model.registry.js';
export { TypeormLiveSubscriber, type TypeormLiveSubscriberOptions } from './live/typeorm-live.subscriber.js';

// ─── Uploads ───────────────────────────────────────────────────────────────────────────────────────────────────
export { UploadFile } from './upload/upload-file.js';
export { UnsupportedHttpAdapterError } from './common/unsupported-http-adapter.error.js';
export type { UploadChunk } from './upload/upload-chunk.js';
export { UploadChunkIterator } from './upload/upload-chunk-iterator.js';
export { UploadError, UploadAbortedError, type UploadErrorCode, type UploadErrorBody } from './upload/upload.error.js';
export { cleanUploadFileName } from './upload/upload-file-name.js';
export { UploadRoute, UPLOAD_HANDLER_HEADER } from './upload/upload.route.js';

// ─── The security audit at startup ─────────────────────────────────────────────────────────────────────────────
export { BridgeSecurityAudit } from './audit/bridge-security-audit.service.js';
export { SecurityAuditError } from './audit/security-audit.error.js';
export type { SecurityFinding, SecurityFindingCode } from './audit/security-finding.js';
export type { AuditMode } from './audit/audit.options.js';

// ─── Reflex's HTTP routes and health ───────────────────────────────────────────────────────────────────────────
export { ReflexHealth, type ReflexHealthBody } from './health/reflex-health.service.js';
export { StateStoreHealthIndicator } from './health/state-store.health-indicator.js';
export { LiveTransportHealthIndicator } from './health/live-transport.health-indicator.js';
export { DatabaseHealthIndicator } from './health/database.health-indicator.js';

// ─── The wire protocol ─────────────────────────────────────────────────────────────────────────────────────────
export { BRIDGE_ERROR_EVENT, BridgeError, type BridgeErrorCode, type BridgeErrorPayload } from './protocol/bridge-error.js';
export { BridgeErrorPresenter } from './pipeline/bridge-error.presenter.js';
export { BRIDGE_ERROR_PAYLOAD_KEY } from './pipeline/presented-error.js';
export type { StateUpdate, Delta } from './protocol/state-update.js';
export { ROOT_STATE_NAME, FIELD_MARKER } from './protocol/state-naming.js';

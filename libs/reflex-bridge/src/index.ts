// The public API of @reflex-bridge/nest. Named exports only; everything else is internal.
export { ReflexBridgeModule } from './reflex-bridge.module.js';
export { REFLEX_BRIDGE_MODULE_OPTIONS } from './reflex-bridge.module-definition.js';
export { InvalidOptionError, type ReflexBridgeModuleOptions } from './reflex-bridge.options.js';

export { State, type StateOptions } from './state/state.decorator.js';
export { EventHandler, type EventHandlerOptions } from './state/event-handler.decorator.js';
export { Payload, EventRequest, EventUser, EventSession } from './state/event-param.decorator.js';
export { ReflexStateService } from './state/reflex-state.service.js';
export { StateStore, LockLostError, type StateLease, type StoredState } from './state/store/state-store.js';
export { InMemoryStateStore, type InMemoryStateStoreOptions } from './state/store/in-memory-state.store.js';

export { redirect, serverEvent, type ClientEvent, type ServerEvent, type RedirectOptions } from './protocol/client-event.js';
export { BRIDGE_ERROR_EVENT, type BridgeErrorCode, type BridgeErrorPayload } from './protocol/bridge-error.js';
export type { StateUpdate, Delta } from './protocol/state-update.js';
export { ROOT_STATE_NAME, FIELD_MARKER } from './protocol/state-naming.js';

export { BridgeTier } from './bridge/bridge-tier.decorator.js';
export type { BridgeMode } from './bridge/bridge-tier.js';
export type { BridgeOptions } from './bridge/bridge.options.js';
export type { BridgeTierResolver, BridgeTierResolverFn, BridgeEventInfo } from './bridge/bridge-tier-resolver.js';
export { AppState } from './bridge/app-state.js';
export { currentRequest, currentUser, currentSession, NoRequestError } from './bridge/event-context.js';
export { SyntheticRequest } from './bridge/synthetic-request.js';
export { SESSION_COOKIE_EVENT } from './bridge/bridge-runner.service.js';

export { EventCacheService } from './cache/event-cache.service.js';
export type { EventCacheOptions, FastAuthOptions, AuthSnapshot, EventCacheInvalidation } from './cache/event-cache.options.js';
export { SessionNotLoadedError } from './bridge/fast-auth.js';
export type { MetricsOptions, BridgePhase } from './metrics/metrics.options.js';
export type { MirrorOptions } from './bridge/bridge.options.js';

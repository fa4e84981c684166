/**
 * `@reflex-bridge/client`: a typed client for ReflexBridge and Reflex event channels, for browsers and Node.
 * @packageDocumentation
 */
export { ReflexClient, type StateListener } from './reflex.client.js';
export type { ReflexClientOptions, ReflexSocketOptions, SessionCookieHandoff } from './reflex-client.options.js';
export type { ConnectionStatus } from './connection.status.js';
export { ConnectionError, type ConnectionErrorDetails, type ConnectionErrorKind } from './connection.error.js';
export { StateStore, stripFieldMarker, type StateVars } from './state.store.js';
export { TokenStore, defaultTokenStorage, type TokenStorage, type TokenStoreOptions } from './token.store.js';
export { generateToken, isToken } from './token.generator.js';
export {
  ReconnectBackoff,
  resolveReconnectOptions,
  type ReconnectOptions,
  type ResolvedReconnectOptions,
} from './reconnect.backoff.js';
export { defaultRedirectHandler, toRedirectOptions, type RedirectHandler } from './redirect.handler.js';
export { applyBrowserStorageEvent, STORAGE_EVENTS } from './storage-event.handler.js';
export { buildRouterData } from './router-data.builder.js';
export {
  ClientStorage,
  type ClientStorageMap,
  type ClientStorageCookieOptions,
  type ClientStorageLocalOptions,
  type ClientStorageSessionOptions,
} from './client-storage.js';
export { ListenerSet, type Unsubscribe } from './listener.set.js';
export { nestsDeeperThan, resolveFrameLimits, type FrameLimits, type ResolvedFrameLimits } from './frame.limits.js';
export {
  DEFAULT_EVENT_PATH,
  FIELD_MARKER,
  HYDRATE_EVENT,
  IS_HYDRATED_KEY,
  ON_LOAD_INTERNAL_EVENT,
  ROOT_STATE_NAME,
  SESSION_COOKIE_EVENT,
  SESSION_COOKIE_PAYLOAD_KEY,
  BRIDGE_ERROR_PAYLOAD_KEY,
  HANDOFF_SECRET_HEADER,
  CLIENT_TOKEN_HEADER,
  SocketMessage,
  TOKEN_STORAGE_KEY,
  UPDATE_VARS_INTERNAL_EVENT,
} from './protocol.constants.js';
export type { Delta, StateUpdate } from './state-update.types.js';
export type { BridgeErrorCode, BridgeErrorPayload } from './bridge-error.types.js';
export type { ClientEvent, RedirectOptions } from './client-event.types.js';
export type { OutboundEvent, RouterData } from './outbound-event.types.js';
export type {
  UploadFileData,
  UploadFileDescriptor,
  UploadFileInput,
  UploadProgress,
  UploadRequestOptions,
  UploadResult,
} from './upload.types.js';
export { UploadRequestError, type UploadErrorCode, type UploadRequestErrorDetails } from './upload-request.error.js';
export { NdjsonLineSplitter } from './ndjson-line.splitter.js';
export { uploadUrlOf } from './upload-url.builder.js';
export { EVENT_HANDLER_HEADER, UPLOAD_EVENT_ARGS_FIELD, UPLOAD_FILES_FIELD } from './upload.request.js';

/**
 * `@reflex-bridge/react`: React bindings for ReflexBridge. A provider owning one `ReflexClient`, hooks reading a
 * state's vars and calling its handlers, typed by the module `reflex-bridge codegen` writes from the server's states.
 * @packageDocumentation
 */
export { ReflexProvider, type ReflexProviderProps, type ReflexNavigate } from './reflex.provider.js';
export { ReflexContext, useReflexClient } from './reflex.context.js';
export { ReflexBinding, type ReflexErrorLog } from './reflex.binding.js';
export { useReflexState } from './use-reflex-state.js';
export { useReflexVar } from './use-reflex-var.js';
export { useReflexEvent } from './use-reflex-event.js';
export { useConnectionStatus } from './use-connection-status.js';
export { useReflexErrors, type ReflexErrors } from './use-reflex-errors.js';
export { useReflexUpload, type ReflexUpload, type ReflexUploadFile, type ReflexUploadProgress } from './use-reflex-upload.js';
export {
  stateRef,
  handlerRef,
  type StateRef,
  type HandlerRef,
  type VarsOf,
  type PayloadOf,
  type EmptyPayload,
  type EventSender,
} from './state.ref.js';

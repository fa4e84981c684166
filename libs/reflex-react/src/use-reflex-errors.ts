import { useCallback, useSyncExternalStore } from 'react';
import type { BridgeErrorPayload, ConnectionError } from '@reflex-bridge/client';
import type { ReflexErrorLog } from './reflex.binding.js';
import { useReflexBinding } from './reflex.context.js';

/** What {@link useReflexErrors} returns. */
export interface ReflexErrors extends ReflexErrorLog {
  /**
   * Forgets one server error (e.g. when its toast is closed), the connection error (`dismiss(connectionError)`,
   * e.g. a `handoff_failed` notice the user closed; a newer connection error is kept), or, without an argument,
   * all errors and the connection error.
   */
  dismiss(error?: BridgeErrorPayload | ConnectionError): void;
}

/**
 * The server's recent refusals (`bridge_error`: `{code, message, event?, details?, status?, retryAfterMs?, payload?}`, oldest first) and the last
 * connection problem (cleared when the client is ready again, except `events_unconfirmed`, kept until dismissed and not
 * replaced by a later problem of another kind; a later `events_unconfirmed` is added to it). Errors are kept by the provider, so a component
 * mounted later still sees them until dismissed.
 */
export function useReflexErrors(): ReflexErrors {
  const binding = useReflexBinding();
  const subscribe = useCallback((onChange: () => void) => binding.subscribeErrors(onChange), [binding]);
  const getSnapshot = useCallback(() => binding.errors(), [binding]);
  const log = useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
  const dismiss = useCallback((error?: BridgeErrorPayload | ConnectionError) => binding.clearErrors(error), [binding]);
  return { errors: log.errors, connectionError: log.connectionError, dismiss };
}

import { useCallback, useSyncExternalStore } from 'react';
import type { BridgeErrorPayload } from '@reflex-bridge/client';
import type { ReflexErrorLog } from './reflex.binding.js';
import { useReflexBinding } from './reflex.context.js';

/** What {@link useReflexErrors} returns. */
export interface ReflexErrors extends ReflexErrorLog {
  /** Forgets one error (e.g. when its toast is closed), or all errors and the connection error. */
  dismiss(error?: BridgeErrorPayload): void;
}

/**
 * The server's recent refusals (`bridge_error`: `{code, message, event?, details?}`, oldest first) and the last
 * connection problem (cleared when the client is ready again). Errors are kept by the provider, so a component
 * mounted later still sees them until dismissed.
 */
export function useReflexErrors(): ReflexErrors {
  const binding = useReflexBinding();
  const subscribe = useCallback((onChange: () => void) => binding.subscribeErrors(onChange), [binding]);
  const getSnapshot = useCallback(() => binding.errors(), [binding]);
  const log = useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
  const dismiss = useCallback((error?: BridgeErrorPayload) => binding.clearErrors(error), [binding]);
  return { errors: log.errors, connectionError: log.connectionError, dismiss };
}

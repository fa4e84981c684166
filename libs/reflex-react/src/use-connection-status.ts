import { useCallback, useSyncExternalStore } from 'react';
import type { ConnectionStatus } from '@reflex-bridge/client';
import { useReflexBinding } from './reflex.context.js';

/**
 * The client's connection status: `idle`, `connecting`, `connected` (hydrating), `ready`, `reconnecting` or
 * `disconnected`. Re-renders on each change.
 */
export function useConnectionStatus(): ConnectionStatus {
  const binding = useReflexBinding();
  const subscribe = useCallback((onChange: () => void) => binding.subscribeStatus(onChange), [binding]);
  const getSnapshot = useCallback(() => binding.status(), [binding]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

import { useCallback } from 'react';
import { useReflexBinding } from './reflex.context.js';
import type { EventSender, HandlerRef, PayloadOf } from './state.ref.js';

/**
 * A function that sends an event to a server handler, typed by the handler's payload. It is stable (the same
 * function across renders). While the client is offline the event is queued and sent after the next hydration (at
 * most `maxQueuedEvents`, 1000 by default, and `maxQueuedChars`, 16 Mi: past that it is not sent, and `connectionError`
 * shows `queue_full`).
 * @example
 * ```ts
 * const add = useReflexEvent(CartState.add);
 * add({ productId: 3 }); // add({ id: 'x' }) fails the type check
 * ```
 */
export function useReflexEvent<H extends HandlerRef<object>>(handler: H): EventSender<PayloadOf<H>> {
  const client = useReflexBinding().client;
  const { $state, $handler } = handler;
  return useCallback(
    (payload?: object) => client.call($state, $handler, (payload ?? {}) as Record<string, unknown>),
    [client, $state, $handler],
  ) as EventSender<PayloadOf<H>>;
}

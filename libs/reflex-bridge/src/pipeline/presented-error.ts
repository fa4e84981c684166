import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import { isClientEvent, type ClientEvent } from '../protocol/client-event.js';

/** Payload key under which each event of an error's presentation carries the structured error. @publicApi */
export const BRIDGE_ERROR_PAYLOAD_KEY = 'bridge_error';

/**
 * The events that show `error` to the user, as sent: only events a Reflex client runs (anything else would be
 * sent back to the server as an event), each a copy whose payload also carries the structured error under
 * `bridge_error`. Reflex's client ignores that key; `@reflex-bridge/client` reads it to know the event only
 * presents an error it already reported to `onError`.
 */
export function presentedError(presented: readonly unknown[] | undefined, error: BridgeErrorPayload): ClientEvent[] {
  if (!Array.isArray(presented)) return [];
  const events: ClientEvent[] = [];
  for (const item of presented) {
    if (!isClientEvent(item)) continue;
    const event: ClientEvent = { name: item.name, payload: { ...item.payload, [BRIDGE_ERROR_PAYLOAD_KEY]: error } };
    if (item.router_data) event.router_data = item.router_data;
    events.push(event);
  }
  return events;
}

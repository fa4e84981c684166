import { BridgeError } from '../protocol/bridge-error.js';

/**
 * The refusal of an event that would have waited (while its socket is admitted) when the events waiting on the worker
 * already take `maxTotalQueuedBytes`. A `busy`: sending the event again in a moment works.
 */
export const WORKER_EVENTS_FULL_ERROR = new BridgeError(
  'busy',
  'Too many events are waiting on this server; this one was dropped. Send it again in a moment.',
);

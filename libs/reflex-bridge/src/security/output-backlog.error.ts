import { BridgeError } from '../protocol/bridge-error.js';

/**
 * The refusal of an event that arrives while more output than `outputRefuseBytes` (a quarter of `maxOutboundBytes`)
 * waits for the client to read, past the few events of that read that wait for it instead: a client that does not
 * read the answers to its events gets no more of them. A `busy`: sending the event again once the answers arrived works.
 */
export const OUTPUT_BACKLOG_ERROR = new BridgeError(
  'busy',
  'The answers to earlier events are still waiting to be read; this event was dropped. Send it again once they arrived.',
);

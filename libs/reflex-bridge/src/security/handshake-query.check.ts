import type { IncomingMessage } from 'node:http';

/**
 * Most parameters a handshake's query may carry. Reflex's `state.js` and `socket.io-client` send three (`token`, `EIO`,
 * `transport`); Socket.IO keeps the parsed query for a connection's whole life (`handshake.query`), so a 14 KB query
 * of 2,900 one-letter parameters made each connection hold about 140 kB where a plain one holds 30.
 */
export const MAX_HANDSHAKE_QUERY_PARAMS = 32;

/** Engine.IO's protocol revision this server speaks: 4, which Socket.IO 3 and later clients (and Reflex's) use. */
const ENGINE_IO_PROTOCOL = '4';

/**
 * Why the event server refuses a handshake for its query, as `code: message` (Engine.IO puts the text in its refusal);
 * `undefined` when the query is one it can serve. Read from the query Engine.IO parsed (`_query`), before the WebSocket
 * upgrade: Engine.IO checks the protocol revision only once the upgrade is done, and then writes its `400` into the
 * WebSocket stream, which a client reads as a broken frame (`RSV1 must be clear`) instead of a refusal.
 */
export function handshakeQueryRefusal(request: IncomingMessage): string | undefined {
  const query = (request as IncomingMessage & { _query?: Record<string, unknown> })._query;
  if (query === undefined) return undefined;
  let params = 0;
  for (const key in query) {
    if (Object.hasOwn(query, key) && ++params > MAX_HANDSHAKE_QUERY_PARAMS) {
      return `too_many_query_params: a handshake may carry at most ${MAX_HANDSHAKE_QUERY_PARAMS} query parameters.`;
    }
  }
  if (query['EIO'] !== ENGINE_IO_PROTOCOL) {
    return `unsupported_protocol: this server speaks Engine.IO ${ENGINE_IO_PROTOCOL} (EIO=${ENGINE_IO_PROTOCOL}: Socket.IO 3 and later, Reflex's state.js).`;
  }
  return undefined;
}

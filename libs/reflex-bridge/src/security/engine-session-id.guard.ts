import type { IncomingMessage } from 'node:http';

/** An Engine.IO middleware (`engine.use`), run before Engine.IO reads a request or a WebSocket handshake. */
export type EngineMiddleware = (request: IncomingMessage, response: unknown, next: (error?: Error) => void) => void;

/** The `sid` Engine.IO reads from a request: the query it parsed (`_query`), else the URL's, as it parses it. */
function sessionIdOf(request: IncomingMessage): unknown {
  const parsed = (request as IncomingMessage & { _query?: Record<string, unknown> })._query;
  if (parsed) return parsed['sid'];
  // Engine.IO keeps the last of repeated parameters (an object made from the entries).
  return new URL(request.url ?? '', 'http://engine.invalid').searchParams.getAll('sid').at(-1);
}

/**
 * Refuses every request to the event server that names an existing Engine.IO connection (`sid` in its query), with
 * Engine.IO's `400 Bad Request`. The server speaks WebSocket only, with upgrades off: a client opens its
 * connection with one handshake and never names it again. Engine.IO still took a WebSocket handshake with a `sid`
 * as an upgrade of that connection, whatever `allowUpgrades` says, without asking `allowRequest` (the origin
 * policy): a WebSocket from any page that knew a connection's id took it over (its session cookies, its client
 * token), sent events as that tab and received its updates, and the tab lost its connection.
 */
export const refuseSessionIdRequests: EngineMiddleware = (request, _response, next) => {
  let sid: unknown;
  try {
    sid = sessionIdOf(request);
  } catch {
    next(new Error('The request URL cannot be read.'));
    return;
  }
  if (sid) next(new Error('A request may not name an existing connection: the event server does not upgrade transports.'));
  else next();
};

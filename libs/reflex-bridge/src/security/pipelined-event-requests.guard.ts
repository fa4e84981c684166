import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A `request` listener of an HTTP server. */
export type RequestListener = (this: unknown, request: IncomingMessage, response: ServerResponse) => void;

/** The part of an HTTP server whose `request` listeners are wrapped. */
export interface RequestEmitter {
  listeners(event: 'request'): unknown[];
  removeAllListeners(event: 'request'): unknown;
  on(event: 'request', listener: RequestListener): unknown;
}

/**
 * Closes the TCP connection of every plain HTTP request to the event server (`enginePath`, as Engine.IO matches it)
 * once it is answered, and hands nothing the client asked after it on that connection to the server's `request`
 * listeners (Engine.IO's, which calls the app's for other paths): it would never be answered.
 *
 * Why: the event server speaks WebSocket only, so such a request is always refused, and Node's HTTP server takes
 * every pipelined request of a read at once and emits each. A client that wrote 2,000 long-polling requests in one
 * go had Engine.IO check and refuse about 1,985 of them (two reads, each request a `connection_error` and an answer
 * written into a buffer nobody reads) for the one answer it got: 250-300 ms of the event loop while the other
 * clients waited. Node still parses the requests of a read it began (a read is parsed whole); their handling, more
 * than half of the cost, is gone, and nothing is read after the answer. Engine.IO's middlewares run a promise later
 * than the request is emitted, so only a check here, before Engine.IO, sees the next request of the same read.
 *
 * A WebSocket handshake is an `upgrade`, not a `request`, and is not affected; requests of other connections pay a
 * prefix test and a `WeakSet` lookup. Call it once Engine.IO is attached to `server`, so its listener is wrapped.
 */
export function closeAfterEventPathRequests(server: RequestEmitter, enginePath: string): void {
  const closing = new WeakSet<Socket>();
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', function (request, response) {
    const socket = request.socket;
    if (closing.has(socket)) return;
    // Engine.IO's own test of the path (its `check`), so exactly the requests it would take are closed.
    if (request.url !== undefined && request.url.lastIndexOf(enginePath, 0) === 0) {
      // Set here, not in an Engine.IO middleware: a CORS preflight is answered before those run.
      response.setHeader('Connection', 'close');
      closing.add(socket);
    }
    for (const listener of listeners) listener.call(this, request, response);
  });
}

import type { Socket } from 'node:net';
import type { RequestEmitter, RequestListener } from './pipelined-event-requests.guard.js';

/**
 * Answers one connection may have waiting behind the one being written (HTTP/1.1 pipelining), on any route of the
 * server; the request that would pass it closes the connection. Browsers never pipeline, and proxies send one request
 * at a time per upstream connection (nginx), so only a script comes near it.
 */
export const MAX_WAITING_ANSWERS = 16;

/**
 * Closes a connection that has {@link MAX_WAITING_ANSWERS} answers waiting when it sends another request, at once
 * (answers not written yet are lost with it), and hands no request of a closed connection to the server's `request`
 * listeners (the app's routes and middleware): it could never be answered.
 *
 * Why: Node's HTTP server parses every request of a read at once and runs each, queueing the answers in order; it
 * stops reading a connection only while written answers wait for the client. An answer that waits to write anything
 * (the module's files, pages and devtools wait for their turn: see `whenAnswerable`), or a route whose answer comes a
 * little later, leaves the connection read to its end. 16 connections each writing 20,000 SPA page requests in one
 * go and reading nothing made a shop hold 1.6-2.6 GB and work 44-65 s after the client had gone (every new client
 * waited up to 37 s for its event connection); an app route, 12 s and 600 MB. Closing is the one way to stop Node
 * reading and parsing: a connection paused from outside was read on, and each request it sent after the bound, run
 * or not, kept Node's request and response objects for as long as it stayed. Node still parses the rest of the read
 * it began (up to 64 KB): those requests are dropped here.
 *
 * Requests of other connections pay a `destroyed` test and, when pipelined, a `WeakMap` count. Install it on the
 * `request` listeners the app's requests reach (Engine.IO's, which calls the app's).
 */
export function closePipelinesPastBound(server: RequestEmitter): void {
  /** Answers waiting behind the one being written, per connection. */
  const waiting = new WeakMap<Socket, number>();
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', function (request, response) {
    const socket = request.socket;
    if (socket.destroyed) return;
    // Node gives an answer its socket at once, unless an earlier answer of the connection is still being written.
    if (!response.socket) {
      const count = (waiting.get(socket) ?? 0) + 1;
      if (count > MAX_WAITING_ANSWERS) {
        socket.destroy();
        return;
      }
      waiting.set(socket, count);
      response.once('socket', () => waiting.set(socket, (waiting.get(socket) ?? 1) - 1));
    }
    for (const listener of listeners) listener.call(this, request, response);
  });
}

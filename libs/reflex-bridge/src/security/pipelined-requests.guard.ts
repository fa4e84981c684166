import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestEmitter, RequestListener } from './pipelined-event-requests.guard.js';

/**
 * Answers one connection may have waiting behind the one being written (HTTP/1.1 pipelining), on any route of the
 * server; the request that would pass it closes the connection. Browsers never pipeline, and proxies send one request
 * at a time per upstream connection (nginx), so only a script comes near it.
 */
export const MAX_WAITING_ANSWERS = 16;

/**
 * Ends a connection that has {@link MAX_WAITING_ANSWERS} answers waiting when it sends another request: that request
 * and every later one of the connection reach none of the server's `request` listeners (the app's routes and
 * middleware), the connection is not read any more, and it closes once the answers already handed on are written.
 *
 * Why: Node's HTTP server parses every request of a read at once and runs each, queueing the answers in order; it
 * stops reading a connection only while written answers wait for the client. An answer that waits to write anything
 * (the module's files, pages and devtools wait for their turn: see `whenAnswerable`), or a route whose answer comes a
 * little later, leaves the connection read to its end. 16 connections each writing 20,000 SPA page requests in one
 * go and reading nothing made a shop hold 1.6-2.6 GB and work 44-65 s after the client had gone (every new client
 * waited up to 37 s for its event connection); an app route, 12 s and 600 MB. Node still parses the requests of a
 * read it began (a read, up to 64 KB, is parsed whole): they are dropped here.
 *
 * Requests of other connections pay a `WeakSet` lookup and, when pipelined, a `WeakMap` count. Call it once every
 * `request` listener of `server` is attached (Engine.IO's, which calls the app's), so they are wrapped.
 */
export function closePipelinesPastBound(server: RequestEmitter): void {
  /** Answers waiting behind the one being written, per connection. */
  const waiting = new WeakMap<Socket, number>();
  /** The last answer handed on while others waited before it, per connection: the connection's last, once ended. */
  const lastWaiting = new WeakMap<Socket, ServerResponse>();
  /** Connections past the bound: nothing more of them is handed on. */
  const ended = new WeakSet<Socket>();
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', function (request, response) {
    const socket = request.socket;
    if (ended.has(socket)) return;
    // Node gives an answer its socket at once, unless an earlier answer of the connection is still being written.
    if (!response.socket) {
      const count = (waiting.get(socket) ?? 0) + 1;
      if (count > MAX_WAITING_ANSWERS) {
        ended.add(socket);
        // Paused by Node, a connection is read again once its answers drain; paused here, never.
        socket.pause();
        const last = lastWaiting.get(socket)!;
        // Not written yet (it waits its turn): Node then sends it with `Connection: close` and closes after it.
        last.shouldKeepAlive = false;
        last.once('finish', () => socket.destroySoon());
        return;
      }
      waiting.set(socket, count);
      lastWaiting.set(socket, response);
      response.once('socket', () => waiting.set(socket, (waiting.get(socket) ?? 1) - 1));
    }
    for (const listener of listeners) listener.call(this, request, response);
  });
}

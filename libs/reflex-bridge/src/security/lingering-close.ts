import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { lingeringDrain } from './lingering-drain.js';
import { requestAddressKey, type AddressKeying } from './client-address.js';

/**
 * How long a connection answered before its body was read may still receive that body (read and dropped) before it
 * is cut: long enough for the peer to read the answer, short enough that a client that keeps sending holds nothing
 * for long. nginx's own `lingering_timeout` is 5 s.
 */
export const LINGER_MS = 5000;

/**
 * Answers `res` with `Connection: close` and closes its connection once the answer is sent the way nginx does
 * (`lingering_close`) when the request's body has not all arrived: our side is shut (the peer reads the answer, then
 * the end of the stream), and what the peer still sends is read and dropped for at most {@link LINGER_MS}, then the
 * socket is destroyed; all lingering connections of the process together read at a bounded rate, shared between
 * their client addresses, keyed by `keying` as the per-address limits key them ({@link lingeringDrain}). A request
 * read to its end closes as usual.
 *
 * Why: Node closes the socket of a `Connection: close` answer right after sending it (`destroySoon`), with the unread
 * body in the kernel's receive queue, so the kernel resets the connection, and a peer still writing the body gets
 * `EPIPE` or `ECONNRESET`, often before it read the answer. nginx in front (the body streamed,
 * `proxy_request_buffering off`) then answered `502` instead of the refusal (5 of 12 large uploads in Chromium).
 */
export function closeAfterAnswer(res: ServerResponse, keying: AddressKeying): void {
  const req = res.req;
  const socket = req.socket as Socket & { destroySoon?: () => void };
  if (res.headersSent) {
    // Someone else answered already (the app's middleware on the tier's chain), its head saying keep-alive: the
    // connection is closed the same way once that answer is sent, unless the body has all arrived by then.
    const close = (): void => {
      if (!req.complete) linger(socket, requestAddressKey(req, keying));
    };
    if (res.writableFinished) close();
    else res.once('finish', close);
    return;
  }
  res.setHeader('Connection', 'close');
  const destroySoon = socket.destroySoon;
  // What Node's HTTP server calls once a `Connection: close` answer was sent.
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (req.complete || typeof destroySoon !== 'function') {
      destroySoon?.call(socket);
      return;
    }
    linger(socket, requestAddressKey(req, keying));
  };
}

/**
 * Whether `req` announced a body (a length or chunked) that has not all been read: answered now and kept alive, its
 * connection would go on being read, Node reading and dropping the rest until its `requestTimeout` (300 s).
 */
export function bodyStillArriving(req: IncomingMessage): boolean {
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * For an answer given before the request's body was read (a refusal on its headers): when a body is still arriving,
 * the answer closes the connection ({@link closeAfterAnswer}) instead of Node reading and dropping the body. A
 * client posting an endless body on a kept-alive connection had the server read 0.6-0.7 GB in 4 s.
 */
export function closeIfBodyUnread(res: ServerResponse, keying: AddressKeying): void {
  if (bodyStillArriving(res.req)) closeAfterAnswer(res, keying);
}

/**
 * Our side of the connection shut; what the peer still sends is read and dropped for {@link LINGER_MS} at most, at
 * `address`'s part of the rate all lingering connections of the process share ({@link lingeringDrain}), unless the
 * address already has its most lingering connections (then it is destroyed at once).
 */
function linger(socket: Socket, address: string): void {
  if (socket.destroyed) return;
  // Past its address's share of lingering connections: cut now, as Node would (the peer may miss the answer).
  if (!lingeringDrain.admits(address)) {
    socket.destroy();
    return;
  }
  socket.end();
  lingeringDrain.add(socket, address);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

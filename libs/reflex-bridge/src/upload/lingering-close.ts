import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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
 * socket is destroyed. A request read to its end closes as usual.
 *
 * Why: Node closes the socket of a `Connection: close` answer right after sending it (`destroySoon`), with the unread
 * body in the kernel's receive queue, so the kernel resets the connection, and a peer still writing the body gets
 * `EPIPE` or `ECONNRESET`, often before it read the answer. nginx in front (the body streamed,
 * `proxy_request_buffering off`) then answered `502` instead of the refusal (5 of 12 large uploads in Chromium).
 */
export function closeAfterAnswer(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  const req = res.req;
  const socket = req.socket as Socket & { destroySoon?: () => void };
  const destroySoon = socket.destroySoon;
  // What Node's HTTP server calls once a `Connection: close` answer was sent.
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (req.complete || typeof destroySoon !== 'function') {
      destroySoon?.call(socket);
      return;
    }
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
}

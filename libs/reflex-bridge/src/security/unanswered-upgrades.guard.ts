import type { IncomingMessage } from 'node:http';

/** The part of an upgrade request's socket the guard uses (a `net.Socket`, or a `tls.TLSSocket`). */
interface UpgradeSocket {
  readonly bytesWritten?: number;
  readonly destroyed?: boolean;
  once(event: 'finish', listener: () => void): unknown;
  destroy(): void;
}

/** The part of an HTTP server whose upgrades are watched. */
interface UpgradeEmitter {
  on(event: 'upgrade', listener: (request: IncomingMessage, socket: UpgradeSocket) => void): unknown;
}

/**
 * Closes for good the connection of an HTTP upgrade request to any other path than the event server's that nothing
 * answered, once its write side was ended: Engine.IO ends such a connection itself after a second (its
 * `destroyUpgrade`), but only half-closes it (`socket.end()`), and nothing reads a socket after its upgrade request,
 * so the close of the client's side is never seen and the connection stays open for good. A client that sends
 * `Upgrade:` requests to `/` and never closes its end held one file descriptor of the worker each, with no timeout
 * (Node's `headersTimeout` and `requestTimeout` stop at the upgrade) and outside `maxConnectionsPerAddress` (which
 * counts the event path's connections): enough of them and the worker cannot accept another client (`EMFILE`), and
 * the app's shutdown waits for them. Without Engine.IO Node destroys an upgrade nobody listens to at once.
 *
 * A connection someone wrote to (an app's own WebSocket server on another path answered `101`, or refused it) is
 * left to whoever wrote: only an upgrade ended without a byte sent is destroyed. Upgrades to the event path are
 * Engine.IO's and `ws`'s, which destroy what they refuse.
 */
export function destroyUnansweredUpgrades(server: UpgradeEmitter, enginePath: string): void {
  server.on('upgrade', (request, socket) => {
    // Engine.IO's own test of the path (its `check`): those it handles itself.
    if (request.url !== undefined && request.url.lastIndexOf(enginePath, 0) === 0) return;
    socket.once('finish', () => {
      if (socket.destroyed !== true && socket.bytesWritten === 0) socket.destroy();
    });
  });
}

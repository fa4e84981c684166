import { addListenerCompactly } from '../common/compact-listener.js';

/**
 * How long a WebSocket the server closed may wait for the client to take its close frame before its TCP connection
 * is cut: a client that reads answers within a round trip; one that does not read never will.
 */
export const CLOSE_GRACE_MS = 1_000;

/** The `readyState` of a `ws` WebSocket whose TCP connection has ended. */
const WS_CLOSED = 3;

/** What of a `ws` WebSocket the grace needs. */
interface ClosingWebSocket {
  readyState: number;
  terminate(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** An Engine.IO connection, as the grace sees it. */
interface EngineConnection {
  transport?: { socket?: unknown };
  on(event: 'close', listener: (this: EngineConnection) => void): unknown;
}

/** `close` of an Engine.IO connection (called with it as `this`): its WebSocket gets {@link CLOSE_GRACE_MS} to end. */
function onEngineClose(this: EngineConnection): void {
  const ws = this.transport?.socket as Partial<ClosingWebSocket> | undefined;
  // Another transport (no `ws` WebSocket), or the WebSocket has already ended.
  if (typeof ws?.terminate !== 'function' || ws.readyState === WS_CLOSED) return;
  const socket = ws as ClosingWebSocket;
  const timer = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Cuts the TCP connection of every Engine.IO connection of `engine` that is still open {@link CLOSE_GRACE_MS} after
 * it closed. A WebSocket the server closes (for `maxOutboundBytes`, a refused join, `app.close()`) sends its close
 * frame behind everything the client has not read and waits for the answer: from a client that stopped reading,
 * none comes, and the `ws` library waits 30 s (fixed) before it cuts the connection. Meanwhile the connection held
 * its unread output (up to `maxOutboundBytes`, which the worker's budget no longer counted), and `app.close()`
 * waited as long for every such client. One listener per connection, shared by all; a timer only once one closed.
 */
export function cutClosedConnections(engine: { on(event: 'connection', listener: (connection: EngineConnection) => void): unknown }): void {
  // Third after Socket.IO's and Engine.IO's own: kept compact (see addListenerCompactly).
  engine.on('connection', (connection) => addListenerCompactly(connection, 'close', onEngineClose));
}

/** The part of the `ws` WebSocket under an Engine.IO connection the guard uses. */
interface ControlFrameSource {
  on(event: 'ping' | 'pong', listener: (this: ControlFrameSource) => void): unknown;
  pause?(): void;
}

/** An Engine.IO connection, as the guard sees it. */
export interface ControlFrameConnection {
  request?: { websocket?: Partial<ControlFrameSource> };
  close(): void;
}

/** Where a WebSocket keeps its Engine.IO connection, for the listener every connection of a gateway shares. */
const OWNER = Symbol('reflexBridgeEngineConnection');

/**
 * Counts the WebSocket control frames a client sends, ping and pong frames, as messages against its connection's
 * budget: `charge` is called with the connection once per frame and returns false when the connection has no budget
 * yet (it has not joined the event namespace), which closes it, as a stray Engine.IO packet does.
 *
 * Why: `ws` answers each ping with a pong and emits each pong, and neither Engine.IO nor Socket.IO sees them, so no
 * budget counted them. `ws` closes a connection that leaves 60 of its pongs unsent (`maxPendingAutoPongs`), but a
 * pong the server never asked for costs it a frame decode and an event, bounded by nothing: a script writing 125-byte
 * pong frames sent 153 MB in 5 s, joined or not, was never paused or closed, and took another client's round trip
 * from 0.8 ms to 62-65 ms (p50; 104-158 ms at worst). The server sends no WebSocket pings (Engine.IO's heartbeat is a
 * packet), browsers cannot send control frames at all, and clients that keep a WebSocket alive with pings (a Python
 * `websockets` client: one every 20 s) send a few per minute, far inside any budget. One listener function per
 * gateway, shared by every connection, and a property on each WebSocket.
 */
export function chargeWebSocketControlFrames<Connection extends ControlFrameConnection>(
  engine: { on(event: 'connection', listener: (connection: Connection) => void): unknown },
  charge: (connection: Connection) => boolean,
): void {
  const onControlFrame = function (this: ControlFrameSource & { [OWNER]?: Connection }): void {
    const connection = this[OWNER];
    if (connection === undefined || charge(connection)) return;
    // Not joined: nothing more of what it sent is read, and the connection is closed (the close grace cuts it).
    this[OWNER] = undefined;
    this.pause?.();
    connection.close();
  };
  engine.on('connection', (connection) => {
    const websocket = connection.request?.websocket as (ControlFrameSource & { [OWNER]?: Connection }) | undefined;
    if (typeof websocket?.on !== 'function') return;
    websocket[OWNER] = connection;
    websocket.on('ping', onControlFrame);
    websocket.on('pong', onControlFrame);
  });
}

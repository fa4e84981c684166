import type { RateLimitWindow } from './rate-limit.options.js';

/** The part of the `ws` WebSocket under an Engine.IO connection the guard uses. */
interface ControlFrameSource {
  on(event: 'ping' | 'pong', listener: (this: ControlFrameSource) => void): unknown;
  listenerCount(event: 'ping' | 'pong', listener?: (this: ControlFrameSource) => void): number;
  pause?(): void;
}

/** An Engine.IO connection, as the guard sees it. */
export interface ControlFrameConnection {
  request?: { websocket?: Partial<ControlFrameSource> };
  close(): void;
}

/** What the guard asks of the gateway about one connection. */
export interface ControlFrameHooks<Connection> {
  /** True once the connection joined the event namespace; a control frame before that closes it. */
  joined(connection: Connection): boolean;
  /** The connection sent more control frames than its allowance: it is not read for `forMs` (the gateway caps it). */
  pause(connection: Connection, forMs: number): void;
}

/** Where a WebSocket keeps its Engine.IO connection, for the listener every connection of a gateway shares. */
const OWNER = Symbol('reflexBridgeEngineConnection');
/** Control frames counted in the current window, and when the window (or its block) ends: set on the first one. */
const HITS = Symbol('reflexBridgeControlFrames');
const ENDS_AT = Symbol('reflexBridgeControlFramesEndAt');

type GuardedSource<Connection> = ControlFrameSource & { [OWNER]?: Connection; [HITS]?: number; [ENDS_AT]?: number };

/**
 * Counts the WebSocket control frames a client sends, ping and pong frames, against an allowance of their own
 * (`rateLimit.controlFrames`, a fixed window per connection): past it the gateway stops reading the connection
 * until the window ends. A connection that sends one before it joined the event namespace is closed, as a stray
 * Engine.IO packet is.
 *
 * Why: `ws` answers each ping with a pong and emits each pong, and neither Engine.IO nor Socket.IO sees them. `ws`
 * closes a connection that leaves 60 of its pongs unsent (`maxPendingAutoPongs`), but a pong the server never asked
 * for costs it a frame decode and an event, bounded by nothing: a script writing 125-byte pong frames sent 153 MB in
 * 5 s, was never paused or closed, and took another client's round trip from 0.8 ms to 62-65 ms (p50). Counted
 * against the event budget (`rateLimit.perConnection`) they were free again for an app that turned that budget off;
 * counted on their own they stay bounded whatever the event limits say. The server sends no WebSocket pings
 * (Engine.IO's heartbeat is a packet), browsers cannot send control frames at all, and clients that keep a WebSocket
 * alive with pings (a Python `websockets` client: one every 20 s) send a few per minute, far inside the allowance.
 * One listener function per gateway, shared by every connection; the count lives on the WebSocket of a client that
 * sent a control frame, so a browser's connection holds nothing for it.
 *
 * Returns what starts counting on one connection: call it before `ws` reads the connection's first ping or pong
 * frame (the gateway's walk over each connection's inbound frames, `UnfinishedMessageBudget.watch`, does). Two
 * listeners on every WebSocket grew `ws`'s table of them, about 110 bytes per idle connection, for frames that
 * browsers never send.
 */
export function limitWebSocketControlFrames<Connection extends ControlFrameConnection>(
  allowance: Required<RateLimitWindow>,
  hooks: ControlFrameHooks<Connection>,
): (connection: Connection) => void {
  const { limit, ttlMs, blockDurationMs } = allowance;
  const onControlFrame = function (this: GuardedSource<Connection>): void {
    const connection = this[OWNER];
    if (connection === undefined) return;
    if (!hooks.joined(connection)) {
      // Not joined: nothing more of what it sent is read, and the connection is closed (the close grace cuts it).
      this[OWNER] = undefined;
      this.pause?.();
      connection.close();
      return;
    }
    const now = performance.now();
    let endsAt = this[ENDS_AT];
    if (endsAt === undefined || endsAt <= now) {
      this[HITS] = 0;
      this[ENDS_AT] = endsAt = now + ttlMs;
    }
    const hits = (this[HITS] = this[HITS]! + 1);
    if (hits <= limit) return;
    // The first frame over the allowance starts the block; later ones leave it as it is.
    if (hits === limit + 1 && blockDurationMs > 0) this[ENDS_AT] = endsAt = now + blockDurationMs;
    // Each frame past it asks again: the gateway may have read the socket again for another reason (its queue drained).
    hooks.pause(connection, Math.max(1, Math.ceil(endsAt - now)));
  };
  return (connection) => {
    const websocket = connection.request?.websocket as GuardedSource<Connection> | undefined;
    if (typeof websocket?.on !== 'function' || websocket.listenerCount('ping', onControlFrame) > 0) return;
    websocket[OWNER] = connection;
    websocket.on('ping', onControlFrame);
    websocket.on('pong', onControlFrame);
  };
}

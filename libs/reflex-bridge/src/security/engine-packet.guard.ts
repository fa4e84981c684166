import { tapEnginePackets } from '../common/engine-packet.taps.js';

/** An Engine.IO connection, as the guard sees it. */
interface EngineConnection {
  /**
   * Engine.IO's own timer for the pong of the ping it sent last: set when it sends a ping, `null` once the pong came
   * (Engine.IO v4, engine.io 6). The guard's `packet` listener runs before Engine.IO handles the packet, so a pong
   * that finds it `null` answers no ping.
   */
  pingTimeoutTimer?: unknown;
  request?: { websocket?: { pause?: () => void } };
  close(): void;
}

/** True for the pong of the ping Engine.IO sent last: the connection's heartbeat. */
function answersPing(connection: EngineConnection, packet: { type: string }): boolean {
  // `undefined`: an Engine.IO that does not keep the field (a later version); its pongs are let through as before.
  return packet.type === 'pong' && connection.pingTimeoutTimer !== null;
}

/** Anything but a message or the pong of a ping: the connection is closed. */
function closeOnStrayPacket(connection: EngineConnection): void {
  // Nothing more of what the client already sent is read: the frames of the same read would each be decoded on
  // the way to a connection that drops them. The close frame waits behind them; the close grace cuts it.
  connection.request?.websocket?.pause?.();
  connection.close();
}

/**
 * Closes every Engine.IO connection of `engine` that sends an Engine.IO packet no Socket.IO client sends on a
 * WebSocket-only server: a `noop` or an `upgrade` (only an upgrade from long-polling sends them, and the event
 * server has no long-polling), a `close` packet (a WebSocket client closes its WebSocket), or a `pong` the server
 * did not ask for (a client answers each ping once). Engine.IO ignores them, but only Socket.IO messages count
 * against a connection's budget: a script that wrote 120 MB of one-byte `noop` frames in two seconds, joined or
 * not, was never paused or closed, kept a core busy, and took another client's round trip from 1 ms to 0.8-2 s.
 * Engine.IO already closes a connection for a client `ping` (Engine.IO v4 pings from the server only) and for a
 * packet it cannot decode. One listener per connection, shared by all, and no state of its own: whether a ping
 * awaits its pong is Engine.IO's own timer. (A second listener on every outbound packet, and a flag set on each
 * connection, cost about 1,200 instructions more per `none` event than this: callgrind, GC excluded.)
 *
 * Every message packet goes to `onMessage`, and every heartbeat (the pong of Engine.IO's ping) to `onHeartbeat`,
 * each called with the connection, from the same tap (see `tapEnginePackets`, which runs before Engine.IO handles
 * the packet): the gateway's look at each inbound frame, and its idle upkeep. Two listeners of one event cost each
 * packet a copy of Node's listener array and each idle connection that array (64 bytes).
 */
export function closeOnStrayEnginePackets(
  engine: { on(event: 'connection', listener: (connection: EngineConnection) => void): unknown },
  onMessage: (connection: EngineConnection, data: unknown) => void,
  onHeartbeat?: (connection: EngineConnection) => void,
): void {
  // Tapped rather than listened to: see tapEnginePackets.
  tapEnginePackets(engine, 'packet', (connection, packet) => {
    if (packet.type === 'message') onMessage(connection, packet.data);
    else if (answersPing(connection, packet)) onHeartbeat?.(connection);
    else closeOnStrayPacket(connection);
  });
}

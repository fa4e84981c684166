/** Whether the server has sent the connection a ping it has not answered yet (set on the connection itself). */
const AWAITING_PONG = Symbol('reflexBridge.awaitingPong');

/** An Engine.IO connection, as the guard sees it. */
interface EngineConnection {
  [AWAITING_PONG]?: boolean;
  request?: { websocket?: { pause?: () => void } };
  close(): void;
  on(event: 'packet' | 'packetCreate', listener: (this: EngineConnection, packet: { type: string }) => void): unknown;
}

/** `packetCreate` of a connection (called with it as `this`): a ping about to be sent waits for its pong. */
function onPacketCreate(this: EngineConnection, packet: { type: string }): void {
  if (packet.type === 'ping') this[AWAITING_PONG] = true;
}

/** `packet` of a connection (called with it as `this`): anything but a message or the pong of a ping closes it. */
function onPacket(this: EngineConnection, packet: { type: string }): void {
  if (packet.type === 'message') return;
  if (packet.type === 'pong' && this[AWAITING_PONG] === true) {
    this[AWAITING_PONG] = false;
    return;
  }
  // Nothing more of what the client already sent is read: the frames of the same read would each be decoded on
  // the way to a connection that drops them. The close frame waits behind them; the close grace cuts it.
  this.request?.websocket?.pause?.();
  this.close();
}

/**
 * Closes every Engine.IO connection of `engine` that sends an Engine.IO packet no Socket.IO client sends on a
 * WebSocket-only server: a `noop` or an `upgrade` (only an upgrade from long-polling sends them, and the event
 * server has no long-polling), a `close` packet (a WebSocket client closes its WebSocket), or a `pong` the server
 * did not ask for (a client answers each ping once). Engine.IO ignores them, but only Socket.IO messages count
 * against a connection's budget: a script that wrote 120 MB of one-byte `noop` frames in two seconds, joined or
 * not, was never paused or closed, kept a core busy, and took another client's round trip from 1 ms to 0.8-2 s.
 * Engine.IO already closes a connection for a client `ping` (Engine.IO v4 pings from the server only) and for a
 * packet it cannot decode. Two listeners per connection, shared by all; the state is one flag on the connection.
 */
export function closeOnStrayEnginePackets(engine: { on(event: 'connection', listener: (connection: EngineConnection) => void): unknown }): void {
  engine.on('connection', (connection) => {
    // Set at once, not at the first ping: a property added to some connections later gives Engine.IO's sockets two
    // shapes, and its own code on the event path then reads them polymorphically (callgrind: about 1,000
    // instructions more per `none` event, 77,266 against 76,359).
    connection[AWAITING_PONG] = false;
    connection.on('packetCreate', onPacketCreate);
    connection.on('packet', onPacket);
  });
}

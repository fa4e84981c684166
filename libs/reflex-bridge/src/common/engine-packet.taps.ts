/** What a tap is given: the Engine.IO connection, and the packet it received or is about to queue. */
export type EnginePacketTap<Connection> = (connection: Connection, packet: { type: string; data?: unknown }) => void;

/** The Engine.IO connection events that can be tapped: a packet received, a packet about to be queued for the client. */
export type TappedEngineEvent = 'packet' | 'packetCreate';

type Emit = (this: object, event: string | symbol, ...args: unknown[]) => boolean;

/** One engine's taps, and the `emit` its connections share. */
interface Taps {
  packet?: EnginePacketTap<never>;
  packetCreate?: EnginePacketTap<never>;
  /** The `emit` the engine's connections inherit (Node's `EventEmitter`'s). */
  inherited?: Emit;
  tapped?: Emit;
  /** For a connection whose `emit` is not the inherited one: listeners instead, shared too. */
  onPacket?: (this: never, packet: { type: string }) => void;
  onPacketCreate?: (this: never, packet: { type: string }) => void;
}

interface EngineConnection {
  emit: Emit;
  on(event: TappedEngineEvent, listener: (this: never, packet: { type: string }) => void): unknown;
}

const tapsOf = new WeakMap<object, Taps>();

/**
 * Calls `tap` with each `event` (`packet`: a packet the client sent, before Engine.IO handles it; `packetCreate`: a
 * packet about to be queued for the client) of every connection `engine` opens from now on, before the event's
 * listeners; one tap per event and engine.
 *
 * Why not a listener: Engine.IO's connection keeps its listeners in a table by event name, and Socket.IO gives it
 * three (`data`, `error`, `close`). A listener of `packet` and one of `packetCreate` made it five, and V8 doubled the
 * table for the fourth name: about 92 bytes per idle connection. Instead, each connection's `emit` is a function
 * shared by every connection of the engine, which calls the taps, then the `emit` it inherits: one property, kept in
 * the slots the connection already has for the gateway's own. A connection whose `emit` is not the inherited one (a
 * library that replaced it) gets listeners, as before.
 */
export function tapEnginePackets<Connection>(
  engine: { on(event: 'connection', listener: (connection: Connection) => void): unknown },
  event: TappedEngineEvent,
  tap: EnginePacketTap<Connection>,
): void {
  let taps = tapsOf.get(engine);
  if (taps === undefined) {
    const created: Taps = {};
    tapsOf.set(engine, (taps = created));
    engine.on('connection', (connection) => install(connection as EngineConnection, created));
  }
  if (taps[event] !== undefined) throw new Error(`The Engine.IO ${event} event is tapped already.`);
  taps[event] = tap as EnginePacketTap<never>;
}

function install(connection: EngineConnection, taps: Taps): void {
  const emit = connection.emit;
  taps.inherited ??= emit;
  if (emit === taps.inherited && !Object.hasOwn(connection, 'emit')) {
    connection.emit = taps.tapped ??= tappedEmit(taps, emit);
    return;
  }
  taps.onPacket ??= function (this: never, packet: { type: string }): void {
    taps.packet?.(this, packet);
  };
  taps.onPacketCreate ??= function (this: never, packet: { type: string }): void {
    taps.packetCreate?.(this, packet);
  };
  connection.on('packet', taps.onPacket);
  connection.on('packetCreate', taps.onPacketCreate);
}

function tappedEmit(taps: Taps, inherited: Emit): Emit {
  return function (this: object, event: string | symbol, packet?: unknown): boolean {
    if (event === 'packet') taps.packet?.(this as never, packet as { type: string });
    else if (event === 'packetCreate') taps.packetCreate?.(this as never, packet as { type: string });
    // eslint-disable-next-line prefer-rest-params -- every argument, as given, without an array per emit
    return inherited.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
  };
}

import type { Socket } from 'socket.io';

/** Socket.IO's packet type of an event (socket.io-parser's `PacketType.EVENT`). */
const EVENT_PACKET = 2;

/** The parts of Socket.IO's default encoder this writer uses: its text encoding, which applies the server's replacer. */
interface TextEncoder {
  encodeAsString?(packet: { type: number; data: unknown[]; nsp: string }): string;
}

/** The parts of a socket this writer uses beyond Socket.IO's typed API (what `socket.emit` itself calls). */
interface WritableSocket {
  client?: { encoder?: TextEncoder; _packet(packets: unknown, options: object): void };
  nsp: { name: string; server: { opts: { connectionStateRecovery?: unknown } } };
  notifyOutgoingListeners?(packet: unknown): void;
}

/** Write options of every packet: the ones `socket.emit` passes by default, marked as encoded already. */
const WRITE_OPTIONS = { preEncoded: true, compress: true } as const;

/**
 * Writes one event to one socket as `socket.emit(name, data)` does, without Socket.IO's search for binary parts:
 * everything the bridge sends (state deltas, client events, errors) is JSON, so the walk over every value looking
 * for Buffers is skipped and the packet is encoded as text at once, by the server's own encoder (its replacer
 * applies). A Buffer in `data` is therefore sent as JSON, as Reflex's frontend reads it. `onAnyOutgoing` listeners
 * still see the packet.
 *
 * Falls back to `socket.emit` when the server's parser has no text encoder like Socket.IO's own (a custom
 * parser) or the socket is not Socket.IO's own, and when connection state recovery is on (Socket.IO then keeps
 * every packet it sends to a socket).
 */
export function writeJsonEvent(socket: Socket, name: string, data: unknown): void {
  const writable = socket as unknown as WritableSocket;
  const client = writable.client;
  const encode = client?.encoder?.encodeAsString;
  const namespace = writable.nsp;
  if (client === undefined || encode === undefined || namespace.server.opts.connectionStateRecovery) {
    socket.emit(name, data);
    return;
  }
  const packet = { type: EVENT_PACKET, data: [name, data], nsp: namespace.name };
  writable.notifyOutgoingListeners?.(packet);
  // `_packet` checks the connection is open, as `socket.emit` does, then writes the text unchanged.
  client._packet([encode.call(client.encoder, packet)], WRITE_OPTIONS);
}

import type { Socket } from 'socket.io';
import type { StateUpdate } from '../protocol/state-update.js';
import { primitiveDeltaJson } from './primitive-delta.json.js';

/** Socket.IO's packet type of an event (socket.io-parser's `PacketType.EVENT`). */
const EVENT_PACKET = 2;

/** The parts of Socket.IO's default encoder this writer uses: its text encoding, which applies the server's replacer. */
interface TextEncoder {
  encodeAsString?(packet: { type: number; data: unknown[]; nsp: string }): string;
  replacer?: unknown;
}

/** The parts of a socket this writer uses beyond Socket.IO's typed API (what `socket.emit` itself calls). */
interface WritableSocket {
  client?: { encoder?: TextEncoder; _packet(packets: unknown, options: object): void };
  nsp: { name: string; server: { opts: { connectionStateRecovery?: unknown } } };
  notifyOutgoingListeners?(packet: unknown): void;
  _anyOutgoingListeners?: unknown[];
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
  writeEvent(socket, name, data, false);
}

/**
 * Writes a state update as the `event` message, as {@link writeJsonEvent} does; a delta of primitive values (what
 * most events answer) is encoded without `JSON.stringify` (see {@link primitiveDeltaJson}), into the same bytes.
 */
export function writeStateUpdate(socket: Socket, update: StateUpdate): void {
  writeEvent(socket, 'event', update, true);
}

/** Socket.IO's text packet of an `event` message in namespace `nsp`, its data already JSON (as socket.io-parser's `encodeAsString` writes it). */
function updatePacketText(nsp: string, dataJson: string): string {
  return `${EVENT_PACKET}${nsp && nsp !== '/' ? `${nsp},` : ''}["event",${dataJson}]`;
}

/** A delta of every primitive kind, for {@link writesSocketIoText}. */
const PROBE_UPDATE: StateUpdate = { delta: { 'probe.state': { a_rx_state_: 1.5, b_rx_state_: 'x', c_rx_state_: true, d_rx_state_: null } } };

/** Encoders checked by {@link writesSocketIoText}, with the answer. */
const checkedEncoders = new WeakMap<TextEncoder, boolean>();
/** The encoder checked last, and its answer. Holds one encoder (its server's) alive; the map holds none. */
let lastChecked: { encoder: TextEncoder | undefined; same: boolean } = { encoder: undefined, same: false };

/**
 * Whether `encoder` writes an event packet as this module does: socket.io-parser's text format, without a replacer
 * (which could change any value). Checked once per encoder (Socket.IO shares one per server), by encoding a probe.
 */
function writesSocketIoText(encoder: TextEncoder): boolean {
  // The last encoder's answer first: a process has one Socket.IO server, and the map's lookup is one more table
  // each event would read.
  if (encoder === lastChecked.encoder) return lastChecked.same;
  let same = checkedEncoders.get(encoder);
  if (same === undefined) {
    const packet = { type: EVENT_PACKET, data: ['event', PROBE_UPDATE], nsp: '/probe' };
    same = encoder.replacer == null && encoder.encodeAsString!(packet) === updatePacketText(packet.nsp, primitiveDeltaJson(PROBE_UPDATE)!);
    checkedEncoders.set(encoder, same);
  }
  lastChecked = { encoder, same };
  return same;
}

/** Writes event `name`; `isUpdate` when it is the `event` message and `data` its {@link StateUpdate}. */
function writeEvent(socket: Socket, name: string, data: unknown, isUpdate: boolean): void {
  const writable = socket as unknown as WritableSocket;
  const client = writable.client;
  const encode = client?.encoder?.encodeAsString;
  const namespace = writable.nsp;
  if (client === undefined || encode === undefined || namespace.server.opts.connectionStateRecovery) {
    socket.emit(name, data);
    return;
  }
  const encoder = client.encoder!;
  const updateJson = isUpdate ? primitiveDeltaJson(data as StateUpdate) : undefined;
  if (updateJson !== undefined && writesSocketIoText(encoder)) {
    // Only listeners need the packet as an object: most sockets have none, and it is not made for them.
    if (writable._anyOutgoingListeners?.length) writable.notifyOutgoingListeners?.({ type: EVENT_PACKET, data: [name, data], nsp: namespace.name });
    client._packet([updatePacketText(namespace.name, updateJson)], WRITE_OPTIONS);
    return;
  }
  const packet = { type: EVENT_PACKET, data: [name, data], nsp: namespace.name };
  writable.notifyOutgoingListeners?.(packet);
  // `_packet` checks the connection is open, as `socket.emit` does, then writes the text unchanged.
  client._packet([encode.call(encoder, packet)], WRITE_OPTIONS);
}

import type { Namespace, Socket } from 'socket.io';
import type { SharedMessage } from '../protocol/shared-message.js';

/** Socket.IO's packet type of an event (socket.io-parser's `PacketType.EVENT`). */
const EVENT_PACKET = 2;

/** What a {@link SharedMessage} holds once encoded for one namespace. */
interface EncodedUpdate {
  namespace: Namespace;
  /** The encoded packets, written as they are to each socket. */
  packets: unknown[];
  /** Write options shared by every socket (with the pre-built WebSocket frame when the adapter made one). */
  options: { preEncoded: true; compress: boolean };
  /** The packet as `onAnyOutgoing` listeners see it. */
  packet: { type: number; data: unknown[]; nsp: string };
}

/** The adapter's own encoder: the one a room broadcast uses (it also builds the WebSocket frame once). */
type EncodingAdapter = { _encode?(packet: unknown, options: object): unknown[] };

/** The parts of a socket this writer uses beyond Socket.IO's typed API (both are what a room broadcast calls). */
interface WritableSocket {
  client: { _packet(packets: unknown, options: object): void };
  notifyOutgoingListeners?(packet: unknown): void;
}

/**
 * Writes a shared message to one socket, encoding it only the first time (per namespace): every other write gets
 * the same encoded packets, and the same WebSocket frame, as a Socket.IO room broadcast writes them. So 10,000
 * subscribers with the same delta cost one JSON encoding, not 10,000. Falls back to `socket.emit` when the adapter
 * offers no encoder of its own.
 */
export function writeSharedMessage(socket: Socket, shared: SharedMessage): void {
  const namespace = socket.nsp;
  let encoded = shared.encoded as EncodedUpdate | undefined;
  if (encoded?.namespace !== namespace) {
    const adapter = namespace.adapter as unknown as EncodingAdapter;
    if (typeof adapter._encode !== 'function') {
      socket.emit(shared.name, shared.data);
      return;
    }
    const packet = { type: EVENT_PACKET, data: [shared.name, shared.data], nsp: namespace.name };
    const options = { preEncoded: true as const, compress: true };
    encoded = { namespace, packets: adapter._encode(packet, options), options, packet };
    shared.encoded = encoded;
  }
  const writable = socket as unknown as WritableSocket;
  writable.notifyOutgoingListeners?.(encoded.packet);
  // Checks the connection is open, as `socket.emit` does, then writes the packets unchanged.
  writable.client._packet(encoded.packets, encoded.options);
}

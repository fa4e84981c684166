import type { Socket } from 'socket.io';

/** A `disconnect` listener shared by every socket of a namespace (Socket.IO calls it with the socket as `this`). */
export type SharedDisconnectListener = (this: Socket, reason: string) => void;

/** On a namespace: the `disconnect` listener its gateway shares between all its sockets. */
const SHARED_DISCONNECT = Symbol('reflexBridgeSharedDisconnect');

interface Holder {
  [SHARED_DISCONNECT]?: SharedDisconnectListener;
}

/**
 * Offers `listener` as what a socket of `namespace` runs when it disconnects, in place of the closure Nest makes for
 * each socket (`WebSocketsController`: `(reason) => disconnect.next({ client, reason })`, about 100 bytes with its
 * context, held by every idle connection). `BridgeIoAdapter` takes it only where the offering gateway is the one
 * gateway of the namespace: there, Nest's closure would only have called that gateway's `handleDisconnect`.
 */
export function offerSharedDisconnect(namespace: object, listener: SharedDisconnectListener): void {
  (namespace as Holder)[SHARED_DISCONNECT] = listener;
}

/** The listener a gateway offered for `namespace`'s sockets (see {@link offerSharedDisconnect}), if any. */
export function sharedDisconnectOf(namespace: object | undefined): SharedDisconnectListener | undefined {
  return (namespace as Holder | undefined)?.[SHARED_DISCONNECT];
}

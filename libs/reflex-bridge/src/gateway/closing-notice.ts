import type { Socket } from 'socket.io';

/**
 * Handshake query parameter with which a client says it takes the closing notice (`closing_notice=1`): this
 * module's own client sends it; Reflex's `state.js` does not, and its sockets are closed as before.
 */
export const CLOSING_NOTICE_QUERY = 'closing_notice';
/** Server → client, once the shutdown drain ended: send nothing more on this connection, then say so. */
export const SERVER_CLOSING_EVENT = 'server_closing';
/** Client → server, after a {@link SERVER_CLOSING_EVENT}: everything the client sent on this connection came before. */
export const CLOSING_ACK_EVENT = 'closing_ack';

/** Longest wait for the clients' acknowledgements (at most `shutdownGraceMs`): a loopback or LAN round trip is far less. */
export const CLOSING_ACK_WAIT_MS = 2_000;

/** Whether the socket's client takes the closing notice (see {@link CLOSING_NOTICE_QUERY}). */
export function takesClosingNotice(socket: Socket): boolean {
  return socket.handshake.query[CLOSING_NOTICE_QUERY] === '1';
}

/**
 * The end of a worker's connections without losing an event in flight. Closed while its client is sending, a
 * connection drops what is on its way: a click that left the browser as the worker closed the socket never arrived,
 * and the client could only report it `events_unconfirmed` (it may have run). A client that takes the notice is told
 * first ({@link SERVER_CLOSING_EVENT}); it sends nothing more on the connection and answers
 * {@link CLOSING_ACK_EVENT}, which follows on the same ordered stream whatever it sent before: the worker has
 * answered all of it (`server_stopping`, with the payload, for an event that came after the drain: the client sends
 * it again once reconnected). Then the connection is closed, its answers written first. Clients that do not take
 * the notice, or do not answer within {@link CLOSING_ACK_WAIT_MS} (or `shutdownGraceMs`, if shorter), are closed by
 * Nest with the server, as before.
 */
export class ClosingNotices {
  /** The sockets told, each with what ends its wait. */
  private readonly waiting = new Map<Socket, () => void>();

  /**
   * Tells every socket of `sockets` that takes the notice, then waits (at most `waitMs`) until each acknowledged
   * (and was closed) or left.
   */
  async closeAll(sockets: Iterable<Socket>, waitMs: number): Promise<void> {
    if (waitMs <= 0) return;
    const waits: Array<Promise<void>> = [];
    for (const socket of sockets) {
      if (!socket.connected || !takesClosingNotice(socket) || this.waiting.has(socket)) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const done = (): void => {
            this.waiting.delete(socket);
            socket.off('disconnect', done);
            resolve();
          };
          this.waiting.set(socket, done);
          socket.once('disconnect', done);
        }),
      );
      socket.emit(SERVER_CLOSING_EVENT);
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    for (const done of [...this.waiting.values()]) done();
  }

  /**
   * The socket's client acknowledged the notice: everything it sent came before and was answered (events the
   * pipeline refused were answered as they arrived; a `setImmediate` lets the last answers' writes settle), so the
   * connection is closed once its output is written; its wait ends when it left. An acknowledgement never asked for
   * is ignored.
   */
  acknowledged(socket: Socket): void {
    if (!this.waiting.has(socket)) return;
    // Engine.IO's `close()` writes what the connection buffers first, then closes the WebSocket: the client sees
    // `transport close` and reconnects (no DISCONNECT packet: Socket.IO's clients do not reconnect after one).
    setImmediate(() => socket.conn.close());
  }
}

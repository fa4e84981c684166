import type { Socket } from 'socket.io';

/** The part of the `ws` WebSocket under an Engine.IO connection this class uses. */
interface PausableWebSocket {
  pause(): void;
  resume(): void;
}

/**
 * Stops reading one client's socket while its event queue is full (until it has drained) or while it is over its
 * rate budget (for a moment at a time), and starts again when told.
 *
 * Why: every event over the queue's limit is refused with `busy`, but refusing still costs a decode and a
 * reply per frame, and the operating system hands over megabytes of frames per read. Pausing the WebSocket
 * stops the reads instead: the client's frames wait in TCP buffers (its own sends slow down), and what the
 * server already read is all it has to refuse. The transport is the `ws` socket Engine.IO keeps on the
 * connection's request; without one (another transport) nothing is paused and the limits alone apply.
 */
export class SocketReadThrottle {
  private paused = false;

  constructor(private readonly socket: Socket) {}

  /** True while reading is paused. */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Pauses reading until `whenDrained` calls the function it is given. Does nothing while already paused.
   */
  pauseUntil(whenDrained: (resume: () => void) => void): void {
    if (this.paused) return;
    const websocket = (this.socket.conn.request as { websocket?: Partial<PausableWebSocket> }).websocket;
    if (typeof websocket?.pause !== 'function' || typeof websocket.resume !== 'function') return;
    this.paused = true;
    websocket.pause();
    whenDrained(() => {
      this.paused = false;
      websocket.resume!();
    });
  }
}

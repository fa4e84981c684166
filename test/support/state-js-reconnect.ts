import type { Socket } from 'socket.io-client';

/**
 * The disconnect reasons after which Reflex's current `state.js` does not reconnect by itself: it opens its socket
 * with `reconnection: false` and retries on its own, except when the server ended the connection (`io server
 * disconnect`, a Socket.IO DISCONNECT packet) or the page did. After those the tab stays offline until it becomes
 * visible again or the user triggers an event.
 */
export const STATE_JS_FINAL_REASONS: readonly string[] = ['io server disconnect', 'io client disconnect'];

/**
 * Makes `socket` (opened with `reconnection: false`) follow `state.js`'s rule at its next disconnect: reconnect
 * unless the reason is one of {@link STATE_JS_FINAL_REASONS}. Resolves with the reason.
 */
export function reconnectLikeStateJs(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('disconnect', (reason: string) => {
      if (!STATE_JS_FINAL_REASONS.includes(reason)) socket.connect();
      resolve(reason);
    });
  });
}

import type { ServerResponse } from 'node:http';

const stopNothing = (): void => undefined;

/**
 * Destroys `res` once its client has taken nothing of it for a whole `idleMs` while output waits for it (the socket
 * stopped accepting writes and the answer is not done), and returns what ends the watch.
 *
 * Why: a file (a stored upload, a file of the SPA's build) is streamed as fast as its client reads it. A client that
 * asks for a large one and reads nothing kept the file open, and its connection, for as long as it kept the
 * connection: Node's own timeouts bound the request, not the answer. A client that reads, however slowly, keeps it.
 */
export function destroyWhenUnread(res: ServerResponse, idleMs: number): () => void {
  const socket = res.socket;
  if (!socket) return stopNothing;
  // What the response handed the socket (sent, or waiting in its buffer): it stops growing only while the socket's
  // buffer is full, that is while the client takes nothing.
  let handed = socket.bytesWritten;
  const timer = setInterval(() => {
    const now = socket.bytesWritten;
    if (now === handed && socket.writableLength > 0) res.destroy();
    handed = now;
  }, idleMs);
  timer.unref();
  return () => clearInterval(timer);
}

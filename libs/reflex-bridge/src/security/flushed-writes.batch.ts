/** The stream a `ws` WebSocket writes its frames to (its TCP socket, `_socket` inside `ws`). */
interface CorkableStream {
  cork(): void;
  uncork(): void;
}

/** The parts of an Engine.IO connection this file reads (its WebSocket transport's socket). */
interface EngineConnection {
  transport?: { socket?: { _socket?: Partial<CorkableStream> } };
  on(event: 'flush', listener: (this: EngineConnection, buffer: readonly unknown[]) => void): unknown;
}

/** Connections already batching (a connection is set up once, whatever the number of floods). */
const batching = new WeakSet<object>();

function uncork(stream: CorkableStream): void {
  stream.uncork();
}

/**
 * Engine.IO's `flush` (called with the connection as `this`): the packets that waited while the previous write
 * was in flight are about to be written, one WebSocket frame each. The TCP socket is corked for them and uncorked
 * once this tick's synchronous work is done, so they leave in one `writev` instead of one each.
 */
function onFlush(this: EngineConnection, buffer: readonly unknown[]): void {
  if (buffer.length < 2) return;
  const stream = this.transport?.socket?._socket;
  if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
  stream.cork();
  // A tick later, whatever happened in between: every cork is undone exactly once.
  process.nextTick(uncork, stream);
}

/**
 * Makes a connection write each batch of queued packets with one system call.
 *
 * Why: a socket flooding events over its queue's limits gets a `busy` answer (two messages) for every frame of a
 * read, hundreds per read. Engine.IO queues them while its previous write is in flight and then writes them one
 * WebSocket frame at a time, each its own `writev`: a third of the server's time during a flood, while every other
 * client waits. Set up only for connections whose queue filled up (a listener more on every idle connection would
 * cost memory); on a transport other than a WebSocket it does nothing.
 */
export function batchFlushedWrites(conn: object): void {
  if (batching.has(conn)) return;
  batching.add(conn);
  (conn as EngineConnection).on('flush', onFlush);
}

/** An Engine.IO connection, as this file sees it: its queue of callbacks for writes under way. */
interface EngineConnection {
  sentCallbackFn?: unknown;
}

/**
 * Gives back the memory of Engine.IO's queue of writes under way once it is empty; called at each heartbeat of the
 * connection (a pong answering Engine.IO's ping, every `pingIntervalMs`).
 *
 * Engine.IO queues an entry per write it hands to the transport (`sentCallbackFn`: `null`, or the write's callbacks)
 * and takes it off when the transport drained. Once that `shift()` runs optimized, V8 keeps the emptied array's
 * 17-slot backing store: 152 bytes on every idle connection of a busy server (bare Socket.IO's too), every hydrated
 * tab among them. Setting an empty array's length, even to 0, lets V8 drop it. Done here rather than on each write,
 * which would cost every event (a queue of its own cost 350 ns per write), and rather than replacing Engine.IO's
 * array: it stays Engine.IO's own, whatever Engine.IO does with it.
 */
export function releaseEmptiedSendCallbacks(connection: object): void {
  const queued = (connection as EngineConnection).sentCallbackFn;
  if (Array.isArray(queued) && queued.length === 0) queued.length = 0;
}

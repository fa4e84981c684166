/** An Engine.IO connection, as this file sees it: its queue of callbacks for writes under way. */
interface EngineConnection {
  sentCallbackFn?: unknown;
}

/**
 * A queue that gives back its memory when it empties. Engine.IO queues an entry per write it hands to the
 * transport (`sentCallbackFn`, `null` or the write's callbacks) and takes it off when the transport drained. Once
 * that `shift()` runs optimized, V8 keeps the array's 17-slot backing store after the queue empties: 152 bytes on
 * every idle connection that ever wrote twice, each hydrated tab among them. Here the last `shift()` frees it.
 * An `Array` still, so Engine.IO's use of it (`push`, `shift`, `length`) and any other stays as it was.
 */
export class SendCallbackQueue<T> extends Array<T> {
  override shift(): T | undefined {
    const entry = super.shift();
    // Setting the length, even to what it is, lets V8 drop the backing store of an empty array.
    if (this.length === 0) this.length = 0;
    return entry;
  }
}

/** Gives every connection `engine` opens a {@link SendCallbackQueue} in place of its send-callback array. */
export function releaseEmptiedSendCallbacks(engine: { on(event: 'connection', listener: (connection: EngineConnection) => void): unknown }): void {
  engine.on('connection', (connection) => {
    const queued = connection.sentCallbackFn;
    // Another Engine.IO (a later version may keep them otherwise): left as it is.
    if (!Array.isArray(queued)) return;
    // The handshake's own write may still be under way: its entry moves over, in order.
    const queue = new SendCallbackQueue<unknown>();
    for (const entry of queued) queue.push(entry);
    connection.sentCallbackFn = queue;
  });
}

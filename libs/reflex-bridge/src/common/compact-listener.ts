/** Where Node's `EventEmitter` keeps its listeners: one function per event, or an array of several. */
interface ListenerTable {
  _events?: Record<string | symbol, unknown>;
}

/**
 * Adds `listener` for `event` as `emitter.on()` does, and keeps Node's array of that event's listeners no larger
 * than it needs to be.
 *
 * Node keeps a second listener in a two-slot array and `push`es a third onto it, which V8 grows to 20 slots: 176
 * bytes where three slots take 40. On a connection's TCP socket and Engine.IO connection, where the module's one
 * listener comes third after Socket.IO's and `ws`'s own, that was 270 bytes per idle connection (2.7 MB at 10,000
 * connections). Copying the array gives it exactly its length; every other use of the table (`emit`, `off`, `once`)
 * reads the array anew, and an emit under way works on its own copy. On an emitter that keeps no such table (not
 * Node's `EventEmitter`), this is `emitter.on()`.
 */
export function addListenerCompactly<L>(emitter: { on(event: string, listener: L): unknown }, event: string, listener: L): void {
  emitter.on(event, listener);
  compactListeners(emitter, event);
}

/**
 * Gives Node's array of `emitter`'s listeners for `event` exactly its length again (see {@link addListenerCompactly}):
 * for a listener the module added before another library added its own behind it.
 */
export function compactListeners(emitter: object, event: string): void {
  const table = (emitter as ListenerTable)._events;
  const listeners = table?.[event];
  // Two stay in their two-slot array; only a push grows it past its length.
  if (!Array.isArray(listeners) || listeners.length <= 2) return;
  // Node 24 emits over the array itself and counts the emits under way on it (a symbol-keyed number), so that a
  // listener added or removed meanwhile copies the array instead of changing it. A copy without that count read as
  // "not emitting": a `once` listener removing itself during an emit spliced the array under the loop, and the
  // listener after it was skipped. So the copy carries the array's own keys (the count, Node's `warned`), and an array
  // being emitted is left as it is (it is replaced by a copy anyway once a listener is added or removed).
  const array = listeners as unknown[] & Record<symbol | 'warned', unknown>;
  const marks = Object.getOwnPropertySymbols(array);
  if (marks.some((mark) => typeof array[mark] === 'number' && (array[mark] as number) > 0)) return;
  const copy = array.slice() as typeof array;
  for (const mark of marks) copy[mark] = array[mark];
  if ('warned' in array) copy.warned = array.warned;
  table![event] = copy;
}

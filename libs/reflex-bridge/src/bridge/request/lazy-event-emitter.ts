import { EventEmitter } from 'node:events';

/**
 * A base class with `EventEmitter`'s methods (`instanceof EventEmitter` holds) but not its constructor's work: the
 * listener table and counters are made on the first listener. Node's own constructor makes them up front, about
 * 70 ns per object; the bridge makes a request and a response for every bridged event, and most events never listen
 * to either.
 *
 * The table is made here, with `Object.create(null)`, before Node's methods add the first listener: left to them, it
 * would come from the object literal in Node's `_addListener`, whose allocation site then sees mostly the bridge's
 * per-event emitters, alive while their event waits on the session store. V8 pretenured that site under load
 * (`auth_only` and `full` with 50 clients): each event's table was allocated in the old generation, and once dead it
 * still kept the listeners it held, and through them the event's request and response, alive through every young
 * collection, about 2 MB promoted per scavenge. `Object.create` has no allocation site.
 */
export const LazyEventEmitter = function LazyEventEmitter(): void {
  // Nothing: see above.
} as unknown as typeof EventEmitter;

interface ListenerTable {
  _events?: Record<string | symbol, unknown>;
  _eventsCount?: number;
}

const prototype = Object.create(EventEmitter.prototype) as Record<string, unknown>;
Object.defineProperty(prototype, 'constructor', { value: LazyEventEmitter, writable: true, configurable: true });
// Every way Node's emitter adds a listener (`once` adds through `on`).
for (const name of ['addListener', 'on', 'prependListener', 'prependOnceListener'] as const) {
  const add = EventEmitter.prototype[name];
  prototype[name] = function addWithTable(this: EventEmitter & ListenerTable, type: string | symbol, listener: (...args: unknown[]) => void) {
    if (this._events === undefined) {
      this._events = Object.create(null) as Record<string | symbol, unknown>;
      this._eventsCount = 0;
    }
    return add.call(this, type, listener);
  };
}
LazyEventEmitter.prototype = prototype as unknown as EventEmitter;

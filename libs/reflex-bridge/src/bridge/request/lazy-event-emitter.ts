import { EventEmitter } from 'node:events';

/**
 * A base class with `EventEmitter`'s methods (`instanceof EventEmitter` holds) but not its constructor's work: the
 * listener table and counters are made on the first listener, as Node's emitter methods do for an object that has
 * none yet. Node's own constructor makes them up front, about 70 ns per object; the bridge makes a request and a
 * response for every bridged event, and most events never listen to either.
 */
export const LazyEventEmitter = function LazyEventEmitter(): void {
  // Nothing: see above.
} as unknown as typeof EventEmitter;
LazyEventEmitter.prototype = EventEmitter.prototype;

import type { ModelChange } from './model-change.js';

/**
 * Anything the broadcaster delivers to: an async-iterator subscription, an Observable's subscriber, or a live
 * list's subscriber. `deliver` is called synchronously for every change of the label and must not block: a sink
 * that has work to do for the change queues it.
 */
export interface LiveSink {
  readonly closed: boolean;
  deliver(change: ModelChange): void;
  unsubscribe(): void;
}

import { Logger } from '@nestjs/common';
import type { ModelChange } from './model-change.js';

/**
 * One subscriber's stream of changes for a model label: an async iterator with a bounded buffer, returned by
 * `LiveBroadcaster.subscribe`.
 *
 * - Changes that arrive while the consumer is busy wait in a buffer of `bufferSize` changes. When it is full the
 *   oldest buffered change is dropped (the newest state matters most for a live list) and a warning is logged
 *   once for this subscription; {@link dropped} counts every drop.
 * - `unsubscribe()`, or the consumer leaving a `for await` loop (which calls `return()`), removes the subscriber
 *   from the broadcaster at once, discards what is buffered and ends any pending `next()`.
 * - One consumer per subscription: iterating it twice shares (splits) one stream.
 *
 * @example
 * const subscription = broadcaster.subscribe('shop.product');
 * for await (const change of subscription) {
 *   if (change.isDelete) removeRow(change.pk);
 * }
 * @publicApi
 */
export class LiveSubscription implements AsyncIterableIterator<ModelChange> {
  private readonly buffer: ModelChange[] = [];
  private readonly waiting: Array<(result: IteratorResult<ModelChange>) => void> = [];
  private droppedCount = 0;
  private ended = false;
  private readonly logger = new Logger('ReflexBridge');

  /**
   * Created by the broadcaster; not meant to be constructed directly.
   * @param label the model label this subscription receives.
   * @param bufferSize the bound described above.
   * @param onEnd called once when the subscription ends, so the broadcaster forgets it.
   */
  constructor(
    readonly label: string,
    private readonly bufferSize: number,
    private readonly onEnd: (subscription: LiveSubscription) => void,
  ) {}

  /** True once unsubscribed (or ended by `return()`, `clear()` or shutdown). */
  get closed(): boolean {
    return this.ended;
  }

  /** Changes dropped because the buffer was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Changes buffered and not read yet. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Hands a change to this subscriber (called by the broadcaster).
   * @internal
   */
  deliver(change: ModelChange): void {
    if (this.ended) return;
    const waiter = this.waiting.shift();
    if (waiter) {
      waiter({ value: change, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferSize) {
      this.buffer.shift();
      this.droppedCount += 1;
      if (this.droppedCount === 1) {
        this.logger.warn(
          `Live subscriber of "${this.label}" is not keeping up: its buffer of ${this.bufferSize} changes is full, ` +
            'dropping the oldest (logged once per subscription; raise live.bufferSize or consume faster)',
        );
      }
    }
    this.buffer.push(change);
  }

  /** The next change, waiting for one when none is buffered; `done` once the subscription ended. */
  next(): Promise<IteratorResult<ModelChange>> {
    const value = this.buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Ends the subscription (what `break` in a `for await` loop calls). */
  return(): Promise<IteratorResult<ModelChange>> {
    this.unsubscribe();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stops receiving changes and ends the iteration. Safe to call more than once. */
  unsubscribe(): void {
    if (this.ended) return;
    this.ended = true;
    this.buffer.length = 0;
    for (const waiter of this.waiting.splice(0)) waiter({ value: undefined, done: true });
    this.onEnd(this);
  }

  /** The subscription is its own iterator (one consumer). */
  [Symbol.asyncIterator](): AsyncIterableIterator<ModelChange> {
    return this;
  }
}

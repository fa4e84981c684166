import type { DeadlineEntry } from '../../common/deadline-queue.js';
import { BridgeError } from '../../protocol/bridge-error.js';
import type { SyntheticResponse } from '../request/synthetic-response.js';

/**
 * An event's wait for its session save (express-session saves in its wrapped `end()` before the response finishes),
 * bounded by `bridge.middlewareTimeoutMs` as the entry of the middleware {@link DeadlineQueue}: a session store that
 * stops answering would otherwise hold the event, and every later event of its tab, until it answers.
 *
 * A class, not an object literal per event: V8 may tenure a literal's allocation site whose objects wait in the queue
 * under load, and every dead old entry then keeps the event's response alive through young collections (the same
 * happened to the chain's entry, see `ChainRun`).
 */
export class SessionSaveWait implements DeadlineEntry {
  /** Set by the queue. */
  deadline = 0;
  /** True once the response finished (or the wait expired): the queue drops the entry. */
  settled = false;

  /**
   * @param response the event's response, whose `whenFinished` calls {@link onFinished}
   * @param timeoutMs the queue's time limit, for the error's message
   * @param saved called once the response finished within the time limit
   * @param failed called with `session_unavailable` once the time limit passed first
   */
  constructor(
    private readonly response: SyntheticResponse,
    private readonly timeoutMs: number,
    private readonly saved: () => void,
    private readonly failed: (error: Error) => void,
  ) {}

  /** The response finished: the session was saved in time. */
  readonly onFinished = (): void => {
    this.settled = true;
    this.saved();
  };

  /** The time limit passed first: a save that lands later writes no snapshot and hands no cookie off. */
  expire(): void {
    this.response.cancelWhenFinished(this.onFinished);
    this.failed(
      new BridgeError('session_unavailable', `The session could not be saved within ${this.timeoutMs} ms; the event's change to the page stands, its change to the session may be lost. Try again.`),
    );
  }
}

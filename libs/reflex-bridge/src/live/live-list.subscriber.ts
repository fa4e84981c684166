import { Logger } from '@nestjs/common';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import type { LiveFanoutScheduler, LiveFanoutTask } from './live-fanout.scheduler.js';
import type { LiveSink } from './live-sink.js';
import { ModelChange } from './model-change.js';

const logger = new Logger('ReflexBridge');

/**
 * Most changes applied together (one state change, one frame to the client). Half the changes whose rows and lists
 * `LiveRowCache` keeps for the subscribers still to apply them, so a batch never pushes out its own first changes
 * before the other subscribers of the scope get to them.
 */
export const MAX_BATCH = 32;

/**
 * What applying a batch of changes gave: `undefined` when each applied, else each change's error by position
 * (`undefined` for those that applied).
 */
export type BatchOutcome = ReadonlyArray<{ error: unknown } | undefined> | undefined;

/**
 * One connection's subscription to one live list: takes each change of the list's label from the broadcaster
 * and applies them, in order, through `apply` (the client's state under its lock, then the delta to its socket).
 * The changes waiting when its turn comes are applied together, up to {@link MAX_BATCH}: one state change and one
 * frame for a burst (a 500-row insert), not one frame carrying the whole list per row. Changes that arrive while
 * a batch is being applied wait, at most `bufferSize` of them:
 * when full the oldest waiting change is dropped (the newest state matters most for a live list), a `refetch` is
 * queued behind in its place, and a warning is logged once for this subscriber.
 *
 * A plain object with no promise, iterator or timer of its own: the {@link LiveFanoutScheduler} runs it, so a
 * change to 10,000 subscribers costs 10,000 synchronous calls when their states can be changed at once.
 */
export class LiveListSubscriber implements LiveSink, LiveFanoutTask {
  private readonly pending: ModelChange[] = [];
  /** Queued in the scheduler or applying a change: a further change waits in `pending`. */
  private busy = false;
  private ended = false;
  private droppedCount = 0;
  /** The `refetch` in {@link pending}, if any: at most one waits (see {@link deliver}). */
  private waitingRefetch: ModelChange | undefined;
  /**
   * Changes that failed to apply since the last one that applied: only the first of such a run is reported. A
   * subscriber whose every change fails (a tab that subscribed and never hydrated, so it has no state; a state at
   * `maxStateBytes`; a state store that is down) reported each one, a warning per change and per subscriber: 100
   * such sockets made 100,000 lines of 1,000 changes.
   */
  private failingRun = 0;
  /** Whether `failed` logged the first failure of the current run (a failure shared with others may be logged once). */
  private runLogged = false;

  /**
   * @param label the model label subscribed to.
   * @param bufferSize how many changes may wait.
   * @param scheduler runs the subscriber when it has a change waiting.
   * @param apply applies a batch of changes, in order, as one change of the state: resolves with each change's
   *   failure (see {@link BatchOutcome}), or throws (rejects) when none applied. Failures are passed to `failed`.
   * @param failed reports a change `apply` failed to apply (the next ones still apply): the first of a run of
   *   failures only. Returns `false` when it did not log it (another subscriber logged that very failure); else,
   *   when a change applies again or the subscriber ends, one warning counts the others of the run.
   * @param onEnd called once when the subscriber ends, so the broadcaster forgets it.
   * @param standIn makes the `refetch` queued in place of the changes dropped when `trigger` arrived.
   */
  constructor(
    readonly label: string,
    private readonly bufferSize: number,
    private readonly scheduler: LiveFanoutScheduler,
    private readonly apply: (changes: readonly ModelChange[]) => MaybePromise<BatchOutcome>,
    private readonly failed: (change: ModelChange, error: unknown) => boolean | void,
    private readonly onEnd: (subscriber: LiveListSubscriber) => void,
    private readonly standIn: (trigger: ModelChange) => ModelChange = () => ModelChange.refetch(label),
  ) {}

  get closed(): boolean {
    return this.ended;
  }

  /** Changes dropped because too many were waiting. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Changes waiting to be applied (not counting one being applied). */
  get waiting(): number {
    return this.pending.length;
  }

  /**
   * Takes a change from the broadcaster: queued, applied when the scheduler gets to this subscriber. A `refetch`
   * replaces a `refetch` still waiting (not yet applying): it re-reads the list as it is when applied, after every
   * change before it, so one waiting does the work of any number. A burst of refetches (an app's bulk writes, or
   * anyone who can NOTIFY the channel) then costs a list one re-read applying and one waiting, not one each.
   */
  deliver(change: ModelChange): void {
    if (this.ended) return;
    if (change.isRefetch && this.waitingRefetch !== undefined) {
      const waiting = this.pending.indexOf(this.waitingRefetch);
      if (waiting >= 0) this.pending.splice(waiting, 1);
    }
    if (change.isRefetch) this.waitingRefetch = change;
    let dropped = false;
    if (this.pending.length >= this.bufferSize) {
      // The oldest change but a waiting refetch: that one covers what is dropped, wherever it waits (it re-reads the
      // list when applied, later than now), and dropping it only to queue a new one grew the queue each time.
      const oldest = this.pending[0] === this.waitingRefetch && this.pending.length > 1 ? 1 : 0;
      if (this.pending.splice(oldest, 1)[0] === this.waitingRefetch) this.waitingRefetch = undefined;
      dropped = true;
      this.droppedCount += 1;
      if (this.droppedCount === 1) {
        logger.warn(
          `Live list subscriber of "${this.label}" is not keeping up: ${this.bufferSize} changes are waiting, ` +
            'dropping the oldest, and re-reading the list once it catches up (logged once per subscriber; raise ' +
            'live.bufferSize or make the store faster)',
        );
      }
    }
    this.pending.push(change);
    // A dropped change leaves the list wrong (a row not updated or not removed) until the page loads it again: a
    // refetch waiting re-reads the rows shown (or runs liveReload), as after a bulk write. One stand-in covers any
    // number of drops; the queue holds at most one change more than bufferSize.
    if (dropped && this.waitingRefetch === undefined) {
      this.waitingRefetch = this.standIn(change);
      this.pending.push(this.waitingRefetch);
    }
    if (this.busy) return;
    this.busy = true;
    this.scheduler.schedule(this);
  }

  /** Applies the waiting changes, the oldest first, up to {@link MAX_BATCH} (called by the scheduler). */
  runNext(): void {
    if (this.pending.length === 0 || this.ended) {
      this.busy = false;
      return;
    }
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.waitingRefetch !== undefined && batch.includes(this.waitingRefetch)) this.waitingRefetch = undefined;
    let applied: MaybePromise<BatchOutcome>;
    try {
      applied = this.apply(batch);
    } catch (error) {
      this.outcome(batch, undefined, { error });
      this.settled();
      return;
    }
    if (isPromise(applied)) {
      applied.then(
        (failures) => {
          this.outcome(batch, failures);
          this.settled();
        },
        (error: unknown) => {
          this.outcome(batch, undefined, { error });
          this.settled();
        },
      );
      return;
    }
    this.outcome(batch, applied);
    this.settled();
  }

  /** Counts each change of a batch as applied or failed, in order (`all`: the whole batch failed with it). */
  private outcome(batch: readonly ModelChange[], failures: BatchOutcome, all?: { error: unknown }): void {
    for (let i = 0; i < batch.length; i++) {
      const failure = all ?? failures?.[i];
      if (failure === undefined) this.succeeded();
      else this.fail(batch[i]!, failure.error);
    }
  }

  /** Stops taking changes; waiting ones are dropped. Safe to call more than once. */
  unsubscribe(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending.length = 0;
    this.waitingRefetch = undefined;
    if (this.failingRun > 1 && this.runLogged) logger.warn(`Live list subscriber of "${this.label}": ${this.failingRun - 1} more change(s) failed to apply after the one logged, before it ended`);
    this.onEnd(this);
  }

  private fail(change: ModelChange, error: unknown): void {
    this.failingRun += 1;
    if (this.failingRun === 1) this.runLogged = this.failed(change, error) !== false;
  }

  private succeeded(): void {
    if (this.failingRun > 1 && this.runLogged) {
      logger.warn(`Live list subscriber of "${this.label}": ${this.failingRun - 1} more change(s) failed to apply after the one logged, before this one applied`);
    }
    this.failingRun = 0;
  }

  private settled(): void {
    if (this.pending.length > 0 && !this.ended) this.scheduler.schedule(this);
    else this.busy = false;
  }
}

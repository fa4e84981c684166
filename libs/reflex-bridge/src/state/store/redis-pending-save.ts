import { DEADLINE_PASSED } from '../../common/deadline.js';
import type { DeadlineEntry } from '../../common/deadline-queue.js';
import type { QueuedSave } from './redis-save-queue.js';
import { StateStoreError } from './state-store.error.js';
import { LockLostError, type StoredState } from './state-store.js';

/** What a {@link PendingSave} reads and marks of the lock it saves under. */
export interface SavingLock {
  readonly token: string;
  readonly keys: { readonly lock: string; readonly state: string };
  /** What Redis holds for the token, as far as the holder knows: `next` once the save is written. */
  state: StoredState | null;
  /** The size `state` was saved with, when the saver measured it (see `SaveOptions.stateSize`). */
  stateSize?: number;
  /** Set when the save failed or its outcome is unknown: the holder no longer knows what Redis holds. */
  uncertain: boolean;
}

/** What a {@link PendingSave} needs of the store that made it. */
export interface PendingSaveHost<L extends SavingLock> {
  /** Sends the save (again, after an answer of `2`): queued on the connection, or on its own on a Redis Cluster. */
  send(save: PendingSave<L>): void;
  /** The save's arguments for the whole state (every substate), after Redis answered that it holds none. */
  wholeArguments(save: PendingSave<L>): string[];
  /** The error for a save that was sent but failed, or got no answer in time ({@link DEADLINE_PASSED}): Redis may have applied it. */
  unknownOutcome(error: unknown): StateStoreError;
  /** The error for a save that could not be sent: the connection is down. */
  offline(): StateStoreError;
  /**
   * Takes the save out of the queue it may wait in (its time limit passed), so that it no longer holds its state.
   * True when it was waiting there: not sent in this attempt.
   */
  withdraw(save: PendingSave<L>): boolean;
  /** The error for a save whose time limit passed before it could be sent (Redis did not answer the save before it). */
  unsent(): StateStoreError;
}

/**
 * One fenced save of a `RedisStateStore`, from its first send to its one outcome: written (`resolve`), or failed
 * (`reject`) with the lock lost, the connection down, or the outcome unknown. It is the entry the store's save queue
 * sends and its deadline queue watches. A class rather than an object of closures: the store makes one per event.
 */
export class PendingSave<L extends SavingLock = SavingLock> implements QueuedSave, DeadlineEntry {
  readonly lock: string;
  readonly state: string;
  deadline = 0;
  settled = false;
  /** The size of `next`, when the saver measured it: the holder keeps it with `next` once written. */
  stateSize: number | undefined = undefined;
  /** Sent whole already (after an answer of `2`): a second `2` means the lock was lost meanwhile. */
  private whole = false;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  /** Settles once with the save's outcome. */
  readonly done: Promise<void>;

  constructor(
    private readonly host: PendingSaveHost<L>,
    readonly held: L,
    /** The state being saved. */
    readonly next: StoredState,
    /** The expiry argument the save sets (`ttlMs`, or `unusedTtlMs` for a provisional state). */
    readonly ttl: string,
    /** Its arguments of the save script; replaced by the whole state's after an answer of `2`. */
    public args: string[],
  ) {
    this.lock = held.keys.lock;
    this.state = held.keys.state;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  answered(written: unknown): void {
    if (this.settled) return;
    if (written === 1) {
      this.settled = true;
      this.held.state = this.next;
      this.held.stateSize = this.stateSize;
      this.resolve();
    } else if (written === 2 && !this.whole) {
      // Deleted (or expired) since this holder read it: write it whole.
      this.whole = true;
      this.args = this.host.wholeArguments(this);
      this.host.send(this);
    } else {
      this.fail(new LockLostError(this.held.token));
    }
  }

  failed(error: unknown): void {
    if (!this.settled) this.fail(error instanceof StateStoreError ? error : this.host.unknownOutcome(error));
  }

  /** Nothing was written by an earlier attempt (answered `2`, or NOSCRIPT): the connection down now means not written. */
  notSent(): void {
    if (!this.settled) this.fail(this.host.offline());
  }

  /**
   * Its time limit passed first: the outcome is unknown, unless it was still waiting to be sent (an earlier attempt
   * of it, if any, was answered `2`: nothing written). Called once by the `DeadlineQueue`, which marks it settled first.
   */
  expire(): void {
    if (this.host.withdraw(this)) this.fail(this.host.unsent());
    else this.fail(this.host.unknownOutcome(DEADLINE_PASSED));
  }

  private fail(error: Error): void {
    this.settled = true;
    this.held.uncertain = true;
    this.reject(error);
  }
}

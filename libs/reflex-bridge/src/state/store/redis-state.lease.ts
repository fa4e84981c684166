import { LockLostError, type SaveOptions, type StateLease, type StoredState } from './state-store.js';

/** What a {@link RedisStateLease} needs of the lock it was granted on. */
export interface LeasedLock {
  readonly token: string;
  /** What Redis holds for the token, as far as the holder knows. */
  state: StoredState | null;
  /** The size `state` was saved with, when the saver measured it. */
  stateSize?: number;
}

/** The store behind a {@link RedisStateLease}: the lease checks it is still held, the store does the work. */
export interface RedisLeaseHost<L extends LeasedLock> {
  save(lock: L, next: StoredState, options: SaveOptions | undefined): Promise<void>;
  renew(lock: L): Promise<void>;
  release(lease: RedisStateLease<L>): void | Promise<void>;
}

/**
 * The `RedisStateStore`'s lease on one token's lock. A class rather than an object of closures: the store grants one
 * per event (synchronously when it kept the lock from the token's previous event), and this is one allocation
 * instead of four.
 */
export class RedisStateLease<L extends LeasedLock = LeasedLock> implements StateLease {
  readonly token: string;
  readonly state: StoredState | null;
  readonly stateSize: number | undefined;
  /** True until {@link release}. */
  private held = true;

  constructor(
    /** The lock this lease was granted on (it outlives the lease when the store keeps it between events). */
    readonly lock: L,
    private readonly host: RedisLeaseHost<L>,
    readonly lockTimeoutMs: number,
  ) {
    this.token = lock.token;
    this.state = lock.state;
    this.stateSize = lock.state === null ? undefined : lock.stateSize;
  }

  /** True until released. */
  get isHeld(): boolean {
    return this.held;
  }

  save(state: StoredState, options?: SaveOptions): Promise<void> {
    if (!this.held) return Promise.reject(new LockLostError(this.token));
    return this.host.save(this.lock, state, options);
  }

  renew(): Promise<void> {
    if (!this.held) return Promise.reject(new LockLostError(this.token));
    return this.host.renew(this.lock);
  }

  release(): void | Promise<void> {
    if (!this.held) return;
    this.held = false;
    return this.host.release(this);
  }
}

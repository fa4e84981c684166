import type { Logger } from '@nestjs/common';
import { BridgeError } from '../protocol/bridge-error.js';
import { LockLostError, type StateLease } from '../state/store/state-store.js';

/**
 * Keeps a lease's lock alive while a long holder (an upload handler) runs: renews it every third of its
 * `lockTimeoutMs`, so two renewals may fail (a slow or briefly unreachable store) before the lock could expire.
 * Only for leases whose lock expires and can be renewed; {@link start} does nothing for the others (the
 * in-memory store's locks live until released). Events never use it: they hold their lock briefly, and the
 * ordinary event path stays free of timers.
 *
 * The lock is lost when the store says so (`LockLostError`: it expired, and maybe went to someone else) or when
 * renewals failed for a whole `lockTimeoutMs` (it has expired by now). Then `onLost` gets a `state_lock_lost`
 * {@link BridgeError} once, and renewing stops: a lost lock is never taken back.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private stopped = false;
  /** When the lock's current lifetime began, as far as we know (its grant, or the last renewal sent that succeeded). */
  private renewedAt = Date.now();
  /** The loss, once detected. */
  lost: BridgeError | undefined;

  private constructor(
    private readonly lease: StateLease & { renew(): void | Promise<void>; lockTimeoutMs: number },
    private readonly onLost: (error: BridgeError) => void,
    private readonly logger: Logger,
  ) {}

  /** Starts renewing `lease`, or returns `undefined` when its lock does not expire or cannot be renewed. */
  static start(lease: StateLease, onLost: (error: BridgeError) => void, logger: Logger): LeaseRenewal | undefined {
    const { lockTimeoutMs } = lease;
    if (typeof lease.renew !== 'function' || typeof lockTimeoutMs !== 'number' || !(lockTimeoutMs > 0)) return undefined;
    const renewal = new LeaseRenewal(lease as StateLease & { renew(): void | Promise<void>; lockTimeoutMs: number }, onLost, logger);
    const interval = Math.max(1, Math.floor(lockTimeoutMs / 3));
    renewal.timer = setInterval(() => renewal.tick(), interval);
    // A running upload keeps the process busy anyway; the timer alone must not.
    renewal.timer.unref();
    return renewal;
  }

  /** Stops renewing (the holder ended, whatever happened). Idempotent; a renewal in flight is ignored. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.stopped || this.renewing) return;
    this.renewing = true;
    const sentAt = Date.now();
    Promise.resolve()
      .then(() => this.lease.renew())
      .then(
        () => {
          this.renewedAt = sentAt;
        },
        (error: unknown) => {
          if (this.stopped) return;
          if (error instanceof LockLostError) return this.lose(`the state store says it is no longer held`);
          const expiredSince = Date.now() - (this.renewedAt + this.lease.lockTimeoutMs);
          if (expiredSince >= 0) return this.lose(`renewing it failed for ${this.lease.lockTimeoutMs} ms (${(error as Error)?.message ?? String(error)})`);
          this.logger.warn(`Renewing the state lock of a running upload failed; retrying: ${(error as Error)?.message ?? String(error)}`);
        },
      )
      .finally(() => {
        this.renewing = false;
      });
  }

  private lose(why: string): void {
    this.stop();
    this.logger.warn(`An upload lost its client's state lock (${why}); it is cancelled and its later changes are not saved.`);
    this.lost = new BridgeError('state_lock_lost', 'The upload took longer than the client\'s state could be kept locked for it; it was cancelled and its later changes were not saved. Try again.', undefined, 409);
    this.onLost(this.lost);
  }
}

/**
 * Why a state store could not do what was asked:
 * - `unavailable`: its backend cannot be reached right now (connection lost, reconnecting, refused), or refused
 *   the command.
 * - `timeout`: the backend did not answer in time, or the lock was not granted within the acquire timeout.
 * - `closed`: the store was closed.
 * - `outcome_unknown`: a write was sent but its answer was lost (connection dropped, timeout): it may have been
 *   applied. Never report it as "nothing changed".
 */
export type StateStoreErrorCode = 'unavailable' | 'timeout' | 'closed' | 'outcome_unknown';

/**
 * Raised by a {@link StateStore} whose backend fails (as opposed to {@link LockLostError}, which is about a lease).
 * The event pipeline answers such failures with `state_unavailable`; nothing was changed. The driver's own error,
 * when there is one, is the `cause`.
 * @publicApi
 */
export class StateStoreError extends Error {
  /**
   * @param code stable reason, safe to branch on.
   * @param message what happened and, where it helps, what to do about it.
   * @param cause the underlying driver error.
   */
  constructor(
    readonly code: StateStoreErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StateStoreError';
  }

  /**
   * True when the store logged this failure itself, in a log of its own outages (e.g. per Redis Cluster master), so
   * that the event pipeline does not log it again.
   */
  logged = false;
}

import { DEADLINE_PASSED, withinDeadline } from './deadline.js';

const ignore = () => undefined;

/**
 * Fails fast while a server holds an unanswered command. A Redis that stops answering without dropping its
 * connection (a paused process or VM, a network black hole) keeps every command it was sent: without this, each
 * caller would send one more and wait out its own time limit, until the connection's queue is full, and the server
 * would replay them all when it wakes. Once a command outlives its deadline, {@link isOpen} holds until that command
 * settles (the server answered it, or the connection failed), and callers refuse at once without sending anything.
 */
export class StallCircuit {
  private unanswered?: Promise<void>;

  /** True while a command that outlived its deadline is still unanswered: refuse at once, send nothing. */
  get isOpen(): boolean {
    return this.unanswered !== undefined;
  }

  /**
   * `pending` within `ms` (see {@link withinDeadline}: rejects with {@link DEADLINE_PASSED} after it); when the
   * deadline passes first, the circuit opens until `pending` settles.
   */
  async within<T>(pending: Promise<T>, ms: number): Promise<T> {
    try {
      return await withinDeadline(pending, ms);
    } catch (error) {
      if (error === DEADLINE_PASSED && !this.unanswered) {
        const settled: Promise<void> = pending.then(ignore, ignore).finally(() => {
          if (this.unanswered === settled) this.unanswered = undefined;
        });
        this.unanswered = settled;
      }
      throw error;
    }
  }
}

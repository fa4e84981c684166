const ignore = () => undefined;

/**
 * One probe of a dependency at a time. A health check gives up on its probe after its time limit, but the probe
 * itself stays queued on the connection until the server answers (a frozen Redis or Postgres accepts it and never
 * replies): a load balancer probing every second would leave one more unanswered probe per check for as long as the
 * freeze lasts, all replayed when the server wakes (and, on a connection pool, each holding a pooled connection).
 * While the last probe is unanswered, {@link run} returns that same probe instead of sending another; once it
 * settles, the next call sends a new one.
 */
export class InFlightProbe {
  private pending?: Promise<void>;

  /** @param send sends one probe; its promise settles when the server answered (or the connection failed). */
  constructor(private readonly send: () => Promise<unknown>) {}

  /** The probe under way, or a new one: resolves when the server answered it, rejects when it failed. */
  run(): Promise<void> {
    if (this.pending) return this.pending;
    const probe = (async () => {
      await this.send();
    })().finally(() => {
      if (this.pending === probe) this.pending = undefined;
    });
    // Every caller may have stopped waiting (its check timed out) before a late failure.
    probe.catch(ignore);
    this.pending = probe;
    return probe;
  }
}

import type { LoggerService } from '@nestjs/common';

/**
 * Logs, per Redis Cluster master, that its state writes are not confirmed by `waitReplicas` replicas (it has none left:
 * its replica died, or was promoted in a failover and the old master was not restarted): one line when it starts,
 * naming the master and what to do, one when a write there is confirmed again. Every event of that master's tokens
 * then answers `state_outcome_unknown` while the other masters' tokens work; logged per event by the pipeline's
 * outage log, each failure there started an outage and the next success elsewhere ended it: two lines per failed
 * event, none of them naming the master.
 */
export class UnconfirmedWritesLog {
  /** Writes not confirmed, by master address, while there are some. */
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly logger: Pick<LoggerService, 'warn' | 'log'>,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  /** True while some master's writes are not confirmed (a confirmed write is then worth looking at). */
  get active(): boolean {
    return this.failures.size > 0;
  }

  /** A write on `master` was not confirmed in time. */
  unconfirmed(master: string): void {
    const count = this.failures.get(master) ?? 0;
    this.failures.set(master, count + 1);
    if (count > 0) return;
    this.logger.warn(
      `Redis Cluster master ${master} does not confirm state writes to ${this.replicas} replica(s) within ${this.timeoutMs} ms ` +
        `(redisCluster.waitReplicas): it has no replica in sync. Events of its tokens answer state_outcome_unknown (their changes are ` +
        `applied, not acknowledged) until it has one again: restart its failed node (it rejoins as a replica) or add a replica, ` +
        `or set redisCluster.waitReplicas: 0 to acknowledge without one. Failed writes are counted, not logged one by one.`,
    );
  }

  /** A write on `master` was confirmed: ends its outage, if one was under way. */
  confirmed(master: string): void {
    const count = this.failures.get(master);
    if (count === undefined) return;
    this.failures.delete(master);
    this.logger.log(`Redis Cluster master ${master} confirms state writes again; ${count} were not confirmed meanwhile.`);
  }
}

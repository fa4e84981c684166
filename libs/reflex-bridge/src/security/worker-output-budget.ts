/** A connection as the {@link WorkerOutputBudget} sees it. */
export interface OutputBudgetMember {
  /** What the budget last counted for it (kept by the budget; 0 when it counts nothing for it). */
  budgetCounted: number;
  /** What waits for the client now: read afresh, not as last counted. */
  currentOutputBacklog(): number;
  /** Closes the connection: its `backlog` bytes are the largest the worker holds while it is over `workerBytes`. */
  workerOutputExceeded(backlog: number, workerBytes: number): void;
}

/**
 * The output every connection of one worker holds for clients that have not read it, bounded as a whole
 * (`maxTotalOutboundBytes`). Each connection is bounded on its own (`maxOutboundBytes`), but a client that opens
 * many connections and reads none of them, each subscribed to live changes the server sends on its own, makes the
 * worker hold that bound once per connection: 256 sockets at 16 MB are 4 GB. Past the total, the connections that
 * hold the most are closed, largest first, until the worker is within it again; only connections the gateway has
 * already stopped reading for their backlog (past `closableAbove`) are ever closed: a client that reads its socket
 * holds less, and a burst every client of a big fan-out is reading does not close any of them.
 *
 * Each connection's count is what it held when its last packet was queued (see `ConnectionLimits.countOutput`),
 * so the sum only ever overstates: a connection that has read since still counts what it held. Before closing
 * anything the budget reads every connection's backlog afresh; the scan costs a look at each connection of the
 * worker, and is not run again until the count grows by a further quarter of the budget.
 */
export class WorkerOutputBudget {
  /** Sum of the members' {@link OutputBudgetMember.budgetCounted}. */
  private counted = 0;
  /** The count past which the members are read afresh. */
  private scanAbove: number;
  private scanning = false;
  /** The worker's connections; set once the gateway has its namespace. */
  private members: () => Iterable<OutputBudgetMember> = () => [];

  /**
   * @param limitBytes `maxTotalOutboundBytes`: the most unread output the worker holds for all its clients.
   * @param closableAbove a connection's backlog past which it may be closed for the total (the gateway's
   *   `outputPauseBytes`: it has stopped reading that connection until its client reads).
   */
  constructor(
    readonly limitBytes: number,
    private readonly closableAbove: number,
  ) {
    this.scanAbove = limitBytes;
  }

  /** Where the budget finds the worker's connections when it reads them afresh. */
  watch(members: () => Iterable<OutputBudgetMember>): void {
    this.members = members;
  }

  /** The unread output counted for the worker's connections now (an overstatement, see the class). */
  get countedBytes(): number {
    return this.counted;
  }

  /** `member` holds `pending` bytes now (as counted when a packet is queued for it). */
  count(member: OutputBudgetMember, pending: number): void {
    this.counted += pending - member.budgetCounted;
    member.budgetCounted = pending;
    if (this.counted > this.scanAbove) this.scan();
    else if (this.counted <= this.limitBytes) this.scanAbove = this.limitBytes;
  }

  /** `member` left: it holds nothing of the worker's any more. */
  release(member: OutputBudgetMember): void {
    this.counted -= member.budgetCounted;
    member.budgetCounted = 0;
  }

  /** Reads every connection's backlog afresh, and closes the largest closable ones while the worker is over its limit. */
  private scan(): void {
    // Closing a connection releases it, synchronously or later; a scan is not started from within one.
    if (this.scanning) return;
    this.scanning = true;
    try {
      let counted = 0;
      const closable: Array<{ member: OutputBudgetMember; backlog: number }> = [];
      for (const member of this.members()) {
        const backlog = member.currentOutputBacklog();
        member.budgetCounted = backlog;
        counted += backlog;
        if (backlog > this.closableAbove) closable.push({ member, backlog });
      }
      this.counted = counted;
      if (counted > this.limitBytes) {
        closable.sort((a, b) => b.backlog - a.backlog);
        for (const { member, backlog } of closable) {
          if (this.counted <= this.limitBytes) break;
          const workerBytes = this.counted;
          // Released here, whether or not closing it releases it again at once (a release of nothing is a no-op).
          this.release(member);
          member.workerOutputExceeded(backlog, workerBytes);
        }
      }
      this.scanAbove = Math.max(this.limitBytes, this.counted + this.limitBytes / 4);
    } finally {
      this.scanning = false;
    }
  }
}

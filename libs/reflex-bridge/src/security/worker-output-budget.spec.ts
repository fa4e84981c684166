import fc from 'fast-check';
import { WorkerOutputBudget, type OutputBudgetMember } from './worker-output-budget.js';

/** A connection whose client reads nothing unless told: its backlog is what it was last sent, unless it read. */
class FakeConnection implements OutputBudgetMember {
  budgetCounted = 0;
  backlog = 0;
  closed = false;
  /** Reads of its backlog: how the test sees that the budget looked at every connection afresh. */
  looks = 0;
  constructor(
    private readonly budget: WorkerOutputBudget,
    private readonly closedLog: FakeConnection[],
  ) {}
  send(pending: number): void {
    this.backlog = pending;
    this.budget.count(this, pending);
  }
  currentOutputBacklog(): number {
    this.looks += 1;
    return this.backlog;
  }
  workerOutputExceeded(): void {
    this.closed = true;
    this.closedLog.push(this);
    // What the gateway does when the socket leaves.
    this.budget.release(this);
  }
}

function worker(limit: number, closableAbove: number, size: number) {
  const budget = new WorkerOutputBudget(limit, closableAbove);
  const closed: FakeConnection[] = [];
  const connections = Array.from({ length: size }, () => new FakeConnection(budget, closed));
  budget.watch(() => connections.filter((connection) => !connection.closed));
  const open = () => connections.filter((connection) => !connection.closed);
  const total = () => open().reduce((sum, connection) => sum + connection.backlog, 0);
  return { budget, closed, connections, open, total };
}

describe('WorkerOutputBudget', () => {
  it('closes the connections holding the most, largest first, until the worker is within its limit', () => {
    const { connections, closed, total } = worker(1_000, 100, 4);
    const [reader, small, large, larger] = connections;
    reader!.send(50);
    small!.send(300);
    large!.send(400);
    expect(closed).toEqual([]);
    larger!.send(500);
    // 1,250 held: closing the larger one alone brings it to 750.
    expect(closed).toEqual([larger]);
    expect(total()).toBe(750);
  });

  it('never closes a connection that holds no more than a reading client does, even far over the limit', () => {
    const { connections, closed, budget } = worker(1_000, 100, 30);
    for (const connection of connections) connection.send(100);
    expect(closed).toEqual([]);
    expect(budget.countedBytes).toBe(3_000);
  });

  it('reads every backlog afresh before closing: a client that has read since its last packet is not charged for it', () => {
    const { connections, closed, budget } = worker(1_000, 100, 3);
    const [drained, holding, sender] = connections;
    drained!.send(900);
    // It read everything; the budget does not know until it looks.
    drained!.backlog = 0;
    holding!.send(50);
    expect(budget.countedBytes).toBe(950);
    sender!.send(150);
    // 1,100 counted: the scan found 200 held, closed nobody, and the count is exact again.
    expect(closed).toEqual([]);
    expect(budget.countedBytes).toBe(200);
  });

  it('does not look at every connection again until the count has grown by a further quarter of the limit', () => {
    const { connections, budget } = worker(1_000, 100, 20);
    // Twenty readers with 60 each: 1,200 held, none closable; one scan, when the count passed 1,000 (at 1,020).
    for (const connection of connections) connection.send(60);
    const looks = () => connections.reduce((sum, connection) => sum + connection.looks, 0);
    expect(looks()).toBe(20);
    // 1,240: within 1,020 + 250, nobody is looked at.
    for (const connection of connections) connection.send(62);
    expect(looks()).toBe(20);
    // Past it, they are looked at again.
    for (const connection of connections) connection.send(80);
    expect(looks()).toBeGreaterThanOrEqual(40);
    expect(budget.countedBytes).toBe(1_600);
  });

  it('keeps its count equal to what its connections hold, and closes only closable ones, largest first, whatever they are sent', () => {
    const op = fc.record({ who: fc.nat(7), pending: fc.nat(600), reads: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { connections, closed, open, total, budget } = worker(1_000, 100, 8);
        for (const { who, pending, reads } of ops) {
          const connection = connections[who]!;
          if (connection.closed) continue;
          if (reads) {
            // Reads what it holds: the budget learns only when it next looks.
            connection.backlog = 0;
            continue;
          }
          const looksBefore = connections.map((c) => c.looks);
          const closedBefore = closed.length;
          connection.send(pending);
          const scanned = connections.some((c, i) => !c.closed && c.looks > looksBefore[i]!);
          const justClosed = closed.slice(closedBefore);
          // Only connections over the closable bound, in descending order of what they held.
          for (const victim of justClosed) expect(victim.backlog).toBeGreaterThan(100);
          for (let i = 1; i < justClosed.length; i++) expect(justClosed[i - 1]!.backlog).toBeGreaterThanOrEqual(justClosed[i]!.backlog);
          if (justClosed.length > 0) expect(scanned).toBe(true);
          // After a scan the worker is within its limit, or nothing closable is left open.
          if (scanned) expect(total() <= 1_000 || open().every((c) => c.backlog <= 100)).toBe(true);
          // Released connections count nothing; the count is the sum of what the open ones were counted at.
          expect(budget.countedBytes).toBe(open().reduce((sum, c) => sum + c.budgetCounted, 0));
        }
      }),
      { numRuns: 300 },
    );
  });
});

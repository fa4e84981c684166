import type { BridgePhase } from './metrics.options.js';
import { tryFinally, type MaybePromise } from '../common/maybe-promise.js';
import { EventTrace } from './event-trace.js';

/** Accumulates the milliseconds one event spends in each phase (streaming handlers add up per yield). */
export class EventTimer {
  readonly phases = new Map<BridgePhase, number>();
  private readonly started = performance.now();
  tier = 'none';
  /** What devtools record beyond the timings; only when devtools are on. */
  readonly trace: EventTrace | undefined;
  /** Set once the event was finished (logged, observed, recorded). */
  finished = false;

  constructor(
    readonly handlerName: string,
    traced = false,
  ) {
    this.trace = traced ? new EventTrace(this.started) : undefined;
  }

  /** Adds `ms` to `phase`. */
  add(phase: BridgePhase, ms: number): void {
    this.phases.set(phase, (this.phases.get(phase) ?? 0) + ms);
    // Devtools draw each phase where it happened: it ended now and lasted `ms`.
    if (this.trace) this.trace.phase(phase, ms);
  }

  /** Runs `work`, adding its duration to `phase` (synchronously when `work` is synchronous). */
  measure<T>(phase: BridgePhase, work: () => MaybePromise<T>): MaybePromise<T> {
    const start = performance.now();
    return tryFinally(work, () => this.add(phase, performance.now() - start));
  }

  /** Milliseconds since the event started. */
  elapsed(): number {
    return performance.now() - this.started;
  }
}

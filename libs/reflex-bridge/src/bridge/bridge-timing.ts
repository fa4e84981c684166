import type { BridgePhase } from '../metrics/metrics.options.js';
import type { EventTimer } from '../metrics/event-timer.js';

/**
 * Phase timing for the bridge's steps. Clocks are read only when metrics are on (a timer exists): without
 * metrics an event reads no clock at all.
 */

/** When a phase starts: now with a timer, else 0 (never read). */
export function phaseStart(timer: EventTimer | undefined): number {
  return timer ? performance.now() : 0;
}

/** Adds the time since `start` to `phase`, when metrics are on. */
export function phaseEnd(timer: EventTimer | undefined, phase: BridgePhase, start: number): void {
  if (timer) timer.add(phase, performance.now() - start);
}

import type { RecordedEvent } from './event-inspection.js';
import type { TierAdvice } from './tier-advice.js';

interface HandlerTally {
  tier: string;
  events: number;
  readRequest: boolean;
  noRequestErrors: number;
  /** Milliseconds spent outside the handler's own work (handler, delta, emit): what the tier cost. */
  overheadMs: number;
  uploadFloor: boolean;
}

const OWN_WORK = ['handler', 'delta', 'emit'] as const;

/**
 * The tier advisor: from the recorded events, the handlers on `full` or `auth_only` that never read the
 * request, user or session and declare nothing that needs them (request/user/session parameters, guards,
 * an `AppState` class) could run on `none`; the saving is the time their events spent on the tier. A handler
 * on `none` that threw `NoRequestError` needs a bridged tier.
 */
export class TierAdvisor {
  constructor(
    /** Whether a handler declares a use of the request (its tier inputs' `bridgeAware`). */
    private readonly declaresRequestUse: (handlerName: string) => boolean,
  ) {}

  /** The findings over `events`, the largest saving first. */
  advise(events: Iterable<RecordedEvent>): TierAdvice[] {
    const tallies = new Map<string, HandlerTally>();
    for (const timer of events) {
      const trace = timer.trace;
      if (!trace) continue;
      // A handler whose tier changed between events (a resolver) is judged on its latest tier's events.
      let tally = tallies.get(timer.handlerName);
      if (!tally || tally.tier !== timer.tier) {
        tally = { tier: timer.tier, events: 0, readRequest: false, noRequestErrors: 0, overheadMs: 0, uploadFloor: false };
        tallies.set(timer.handlerName, tally);
      }
      tally.events++;
      tally.readRequest ||= trace.readRequest;
      tally.uploadFloor ||= trace.tierReason.startsWith('upload floor');
      if (trace.error?.name === 'NoRequestError') tally.noRequestErrors++;
      let own = 0;
      for (const phase of OWN_WORK) own += timer.phases.get(phase) ?? 0;
      tally.overheadMs += Math.max(0, (timer.phases.get('total') ?? 0) - own);
    }
    const advice: TierAdvice[] = [];
    for (const [handler, tally] of tallies) {
      if (tally.tier === 'none' && tally.noRequestErrors > 0) {
        advice.push({
          handler,
          kind: 'needs_request',
          tier: 'none',
          events: tally.noRequestErrors,
          message: `${handler} runs on "none" but asked for the request ${tally.noRequestErrors} time(s): give it @BridgeTier('auth_only') (or 'full' for guards).`,
        });
      } else if (tally.tier !== 'none' && !tally.readRequest && !tally.uploadFloor && !this.declaresRequestUse(handler)) {
        const savingMs = Math.round((tally.overheadMs / tally.events) * 1000) / 1000;
        advice.push({
          handler,
          kind: 'could_be_none',
          tier: tally.tier,
          events: tally.events,
          savingMs,
          message: `${handler} runs on "${tally.tier}" but never read the request, user or session in ${tally.events} event(s): @BridgeTier('none') would save about ${savingMs} ms per event.`,
        });
      }
    }
    return advice.sort((a, b) => (b.savingMs ?? Infinity) - (a.savingMs ?? Infinity));
  }
}

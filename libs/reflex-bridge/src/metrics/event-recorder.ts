import type { EventTimer } from './event-timer.js';

/**
 * Where finished events go beyond logs and histograms: implemented by the devtools (a layer above), so the
 * metrics layer hands them each event without depending on them. `enabled` is read once at startup: when it
 * is false, events carry no trace and nothing is recorded.
 */
export abstract class EventRecorder {
  /** Whether events are recorded (devtools on). */
  abstract readonly enabled: boolean;
  /** Takes one finished event (its timer and trace). Called once per event; again only to add its error. */
  abstract record(timer: EventTimer): void;
}

import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { EventRecorder } from '../metrics/event-recorder.js';
import type { EventTimer } from '../metrics/event-timer.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { StateStore, type StoredState } from '../state/store/state-store.js';
import { TierResolution } from '../bridge/tiers/tier-resolution.service.js';
import { InspectionRing } from './inspection-ring.js';
import { inspectionOf, type EventInspection, type RecordedEvent } from './event-inspection.js';
import { TierAdvisor } from './tier-advisor.js';
import type { TierAdvice } from './tier-advice.js';

/** Filters for {@link BridgeDevtools.recent}. @publicApi */
export interface InspectionFilter {
  handler?: string;
  tier?: string;
  token?: string;
  /** At most this many, newest first. */
  limit?: number;
}

/**
 * Devtools (development only): what each event of this worker cost and what ran around it, in a ring buffer
 * of `devtools.maxEvents` events, plus the tier advisor. Inject it in the app (a test, a custom route) or read
 * it over the JSON routes under `/_bridge/devtools/`. With devtools off it records nothing and events carry no
 * trace; its methods then answer empty.
 * @publicApi
 */
@Injectable()
export class BridgeDevtools extends EventRecorder implements OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridgeDevtools');
  readonly enabled: boolean;
  private readonly ring: InspectionRing<RecordedEvent>;
  private readonly inspections = new Subject<EventInspection>();
  private readonly advisor: TierAdvisor;
  private nextId = 1;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly registry: StateRegistry,
    private readonly store: StateStore,
    tiers: TierResolution,
  ) {
    super();
    this.enabled = options.devtools !== undefined;
    this.ring = new InspectionRing(options.devtools?.maxEvents ?? 1);
    this.advisor = new TierAdvisor((name) => {
      const handler = registry.findHandler(name);
      return handler === undefined || tiers.inputsOf(handler).bridgeAware;
    });
  }

  /** Takes a finished event (called by the metrics layer); an event recorded before only gained its error. */
  record(timer: EventTimer): void {
    const trace = timer.trace;
    if (!this.enabled || !trace) return;
    if (trace.id === 0) {
      trace.id = this.nextId++;
      trace.at = Date.now();
      this.ring.push(timer);
    }
    // Inspections are built only when someone listens: a worker without a devtools page open pays one push.
    if (this.inspections.observed) this.inspections.next(inspectionOf(timer));
  }

  /** How many events are held (at most `devtools.maxEvents`). */
  get size(): number {
    return this.ring.length;
  }

  /** The latest event, if any. */
  latest(): EventInspection | undefined {
    const newest = this.ring.newest();
    return newest ? inspectionOf(newest) : undefined;
  }

  /** The held events, newest first, optionally filtered by handler (substring), tier and token. */
  recent(filter: InspectionFilter = {}): EventInspection[] {
    return [...this.eachRecent(filter)];
  }

  /**
   * {@link recent}, each inspection built only when it is reached: an event can hold 500 steps and 50 queries, and a
   * reader that stops early (the events route, at its size bound) builds none of the rest.
   */
  *eachRecent(filter: InspectionFilter = {}): Generator<EventInspection, void, undefined> {
    for (const timer of this.matching(filter)) yield inspectionOf(timer);
  }

  /** How many held events {@link recent} would give for `filter`, without building them. */
  countRecent(filter: InspectionFilter = {}): number {
    let count = 0;
    for (const _ of this.matching(filter)) count++;
    return count;
  }

  private *matching(filter: InspectionFilter): Generator<RecordedEvent, void, undefined> {
    const limit = filter.limit ?? Infinity;
    let found = 0;
    for (const timer of this.ring.newestFirst()) {
      if (found >= limit) return;
      if (filter.handler && !timer.handlerName.includes(filter.handler)) continue;
      if (filter.tier && timer.tier !== filter.tier) continue;
      if (filter.token && timer.trace?.token !== filter.token) continue;
      found++;
      yield timer;
    }
  }

  /** The events of one client token, newest first. */
  forToken(token: string): EventInspection[] {
    return this.recent({ token });
  }

  /** One event by id, if still held. */
  get(id: number): EventInspection | undefined {
    const entry = this.ring.newestFirst().find((candidate) => candidate.trace?.id === id);
    return entry ? inspectionOf(entry) : undefined;
  }

  /** Drops every held event. */
  clear(): void {
    this.ring.clear();
  }

  /** Each event as it is recorded (and again if it fails after that). */
  stream(): Observable<EventInspection> {
    return this.inspections.asObservable();
  }

  /** The state tree of a client token as the store holds it, or `null` when it holds none. */
  stateOf(token: string): Promise<StoredState | null> {
    return this.store.read(token);
  }

  /** The tier advisor's findings over the held events. */
  advice(): TierAdvice[] {
    return this.advisor.advise(this.ring.newestFirst());
  }

  /** Ends the event streams; in development, logs the advisor's findings once as the app stops. */
  onApplicationShutdown(): void {
    // Ends the pages' event streams, so the HTTP server can close.
    this.inspections.complete();
    if (!this.enabled || this.options.devtools?.logAdviceOnShutdown !== true) return;
    const advice = this.advice();
    if (advice.length === 0) return;
    this.logger.log(`Tier advisor (${this.ring.length} recent events):\n${advice.map((item) => `  - ${item.message}`).join('\n')}`);
  }
}

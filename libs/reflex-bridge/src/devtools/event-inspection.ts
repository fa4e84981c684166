import type { EventTimer } from '../metrics/event-timer.js';
import type { FastAuthLookup, TraceQuery, TraceStep } from '../metrics/event-trace.js';

/**
 * One event as devtools show it (the JSON of `GET /_bridge/devtools/events`). Built from the event's timer
 * and trace when it is read, not when it is recorded: recording costs one small object per event.
 * @publicApi
 */
export interface EventInspection {
  /** Increasing per worker. */
  id: number;
  /** When the event finished (ISO 8601). */
  at: string;
  handler: string;
  tier: string;
  /** Why the event got its tier: the resolver, `@BridgeTier` on the handler or class, the mode, the upload floor. */
  tierReason: string;
  durationMs: number;
  /** Each phase and named step (middleware; pipes, guards, interceptors and filters by class; handler, delta, emit) with its offset from the event's start. */
  phases: TraceStep[];
  /** Steps not kept: at most 500 are (a streaming handler adds two per yield); the last one kept is the latest. */
  droppedSteps?: number;
  /** Milliseconds per phase. */
  phaseTotals: Record<string, number>;
  queryCount: number;
  /** The queries' total time, as the database layer reported it. */
  queryMs: number;
  queries: TraceQuery[];
  /** On `auth_only` with fast auth: whether the event cache held a fresh snapshot. */
  fastAuth?: FastAuthLookup;
  cache: { hits: number; misses: number };
  /** On `full`: the class names of the handler's guards, interceptors, pipes and filters. */
  enhancers?: Record<string, string[]>;
  user?: string;
  authenticated: boolean;
  /** The first 12 hex digits of the SHA-256 of the session id (never the id itself). */
  sessionHash?: string;
  token?: string;
  path?: string;
  deltaBytes: number;
  delta?: string;
  error?: { name: string; code?: string; message: string };
}

/** What the buffer holds per event: its timer, whose trace carries the recorder's id. */
export type RecordedEvent = EventTimer;

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The inspection of a recorded event. */
export function inspectionOf(timer: RecordedEvent): EventInspection {
  const trace = timer.trace!;
  const phaseTotals: Record<string, number> = {};
  for (const [phase, ms] of timer.phases) phaseTotals[phase] = round(ms);
  let queryMs = 0;
  for (const query of trace.queries) queryMs += query.durationMs ?? 0;
  return {
    id: trace.id,
    at: new Date(trace.at).toISOString(),
    handler: timer.handlerName,
    tier: timer.tier,
    tierReason: trace.tierReason,
    durationMs: round(timer.phases.get('total') ?? timer.elapsed()),
    phases: trace.steps.map((step) => ({ phase: step.phase, name: step.name, startMs: round(step.startMs), durationMs: round(step.durationMs) })),
    ...(trace.droppedSteps ? { droppedSteps: trace.droppedSteps } : {}),
    phaseTotals,
    queryCount: trace.queryCount,
    queryMs: round(queryMs),
    queries: trace.queries.map((query) => ({ ...query, startMs: round(query.startMs) })),
    ...(trace.fastAuth ? { fastAuth: trace.fastAuth } : {}),
    cache: { hits: trace.cacheHits, misses: trace.cacheMisses },
    ...(trace.enhancers ? { enhancers: trace.enhancers } : {}),
    ...(trace.user ? { user: trace.user } : {}),
    authenticated: trace.authenticated,
    ...(trace.sessionHash ? { sessionHash: trace.sessionHash } : {}),
    ...(trace.token ? { token: trace.token } : {}),
    ...(trace.path ? { path: trace.path } : {}),
    deltaBytes: trace.deltaBytes,
    ...(trace.delta ? { delta: trace.delta } : {}),
    ...(trace.error ? { error: trace.error } : {}),
  };
}

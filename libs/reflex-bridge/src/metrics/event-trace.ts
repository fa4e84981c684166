import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { cutText, textOf } from '../common/bounded-text.js';

/**
 * What fast auth's event-cache lookup found: `hit` (a snapshot answered the event), `miss` (none), or `stale` (one
 * older than the handler's `@AuthMaxAge`: the middleware ran).
 */
export type FastAuthLookup = 'hit' | 'miss' | 'stale';

/** One named step inside a phase (a middleware; a pipe, guard, interceptor or filter by class), with its offset and duration. */
export interface TraceStep {
  phase: string;
  name: string;
  /** Milliseconds from the start of the event. */
  startMs: number;
  durationMs: number;
}

/** One database query a handler ran. */
export interface TraceQuery {
  sql: string;
  /** Milliseconds from the start of the event. */
  startMs: number;
  /** Until the database answered (absent while it has not). */
  durationMs?: number;
  failed?: boolean;
}

/** The longest SQL text and delta kept per event: the buffer stays bounded whatever handlers do. */
const MAX_SQL_CHARS = 1_000;
const MAX_DELTA_CHARS = 8_000;
/** The longest page path kept per event: the client sends it, so it could otherwise be a message's size. */
const MAX_PATH_CHARS = 1_000;
/** The longest error message, error name and user label kept per event: a handler's error often quotes client input. */
const MAX_ERROR_CHARS = 2_000;
const MAX_LABEL_CHARS = 200;
/**
 * The most steps kept per event: a streaming handler adds a delta and an emit step per yield, so a long stream
 * would otherwise grow its event without end. Past it, the last slot holds the latest step (the waterfall still
 * ends where the event did) and the others are counted.
 */
const MAX_STEPS = 500;
/** The most queries kept per event (the count goes on). */
const MAX_QUERIES = 50;

const current = new AsyncLocalStorage<EventTrace>();

/**
 * What devtools record about one event beyond the phase timings of its {@link EventTimer}: named steps, the
 * tier's reason, fast-auth and event-cache lookups, queries, the delta, the user and a hash of the session id.
 * Exists only when devtools are on (an event then carries one on its timer): with devtools off nothing here
 * is allocated or called.
 */
export class EventTrace {
  readonly steps: TraceStep[] = [];
  /** Steps not kept (past {@link MAX_STEPS}); the phase totals of the timer still count them. */
  droppedSteps = 0;
  readonly queries: TraceQuery[] = [];
  queryCount = 0;
  tierReason = '';
  fastAuth: FastAuthLookup | undefined = undefined;
  cacheHits = 0;
  cacheMisses = 0;
  /** Class names of the Nest enhancers around the handler on `full`, by kind. */
  enhancers: Record<string, string[]> | undefined = undefined;
  deltaBytes = 0;
  delta: string | undefined = undefined;
  error: { name: string; code?: string; message: string } | undefined = undefined;
  token: string | undefined = undefined;
  path: string | undefined = undefined;
  user: string | undefined = undefined;
  authenticated = false;
  sessionHash: string | undefined = undefined;
  /** Whether the handler read the request, user or session (the tier advisor reads it). */
  readRequest = false;
  /** The recorder's id for the event, once recorded (0 before): an error after that updates the same record. */
  id = 0;
  /** When the event was recorded (epoch milliseconds). */
  at = 0;

  constructor(private readonly started: number) {}

  /** The trace of the event whose handler is running (through its own async context), if any. */
  static current(): EventTrace | undefined {
    return current.getStore();
  }

  /** Runs `fn` with this trace current, so hooks such as a query logger find it. */
  run<T>(fn: () => T): T {
    return current.run(this, fn);
  }

  /** Milliseconds since the event started. */
  now(): number {
    return performance.now() - this.started;
  }

  /** Records a phase that ended now and lasted `ms`. */
  phase(phase: string, ms: number): void {
    if (phase === 'total') return;
    const end = performance.now() - this.started;
    this.keep({ phase, name: phase, startMs: end - ms, durationMs: ms });
  }

  /** Records a named step that began at `start` (a `performance.now()` reading) and ends now. */
  step(phase: string, name: string, start: number): void {
    const end = performance.now();
    this.keep({ phase, name, startMs: start - this.started, durationMs: end - start });
  }

  private keep(step: TraceStep): void {
    if (this.steps.length < MAX_STEPS) {
      this.steps.push(step);
      return;
    }
    this.steps[MAX_STEPS - 1] = step;
    this.droppedSteps++;
  }

  /** Notes that the handler read the request, user or session. */
  usedRequest(): void {
    this.readRequest = true;
  }

  /** Milliseconds from the event's start to `at` (a `performance.now()` reading). */
  offset(at: number): number {
    return at - this.started;
  }

  /** Records a fast-auth event-cache lookup (a stale snapshot counts as a miss). */
  cacheLookup(result: FastAuthLookup): void {
    if (result === 'hit') this.cacheHits++;
    else this.cacheMisses++;
    this.fastAuth = result;
  }

  /**
   * Records a query as it starts. Once the event was recorded it is over: a query then comes from work its handler
   * started and left running (a poller, a fire-and-forget), which keeps the handler's async context for ever, and
   * would otherwise go on adding to an event long done.
   */
  queryStarted(sql: string): void {
    if (this.id !== 0) return;
    this.queryCount++;
    if (this.queries.length < MAX_QUERIES) this.queries.push({ sql: cutText(sql, MAX_SQL_CHARS), startMs: this.now() });
  }

  /** Ends the latest unfinished query with this text (its duration runs from its start to now). */
  queryEnded(sql: string, failed = false): void {
    const text = cutText(sql, MAX_SQL_CHARS);
    const now = this.now();
    for (let index = this.queries.length - 1; index >= 0; index--) {
      const query = this.queries[index];
      if (query.sql === text && query.durationMs === undefined) {
        query.durationMs = now - query.startMs;
        if (failed) query.failed = true;
        return;
      }
    }
  }

  /** Records the page the client says the event came from, up to a bound; anything but a string is no page. */
  notePath(path: unknown): void {
    this.path = typeof path !== 'string' ? undefined : cutText(path, MAX_PATH_CHARS);
  }

  /** Records a delta sent to the client (its size in bytes, and its text up to a bound). */
  sent(delta: unknown): void {
    const text = JSON.stringify(delta);
    this.deltaBytes += Buffer.byteLength(text);
    // Once full (cut and marked), later steps of a streaming handler add nothing.
    if (this.delta !== undefined && this.delta.length > MAX_DELTA_CHARS) return;
    this.delta = cutText(this.delta === undefined ? text : `${this.delta}\n${text}`, MAX_DELTA_CHARS);
  }

  /** Records who sent the event: the user (by id or name), and a hash of the session id (never the id). */
  who(request: { user?: unknown; sessionID?: string } | undefined): void {
    if (!request) return;
    const user = request.user as Record<string, unknown> | undefined | null;
    this.authenticated = user !== undefined && user !== null;
    if (this.authenticated) {
      const label = user?.['username'] ?? user?.['name'] ?? user?.['email'] ?? user?.['id'];
      this.user = label === undefined ? 'authenticated' : cutText(textOf(label), MAX_LABEL_CHARS);
    }
    if (request.sessionID) this.sessionHash = createHash('sha256').update(request.sessionID).digest('hex').slice(0, 12);
  }

  /**
   * Records the error the event ended with, its texts bounded. Whatever was thrown (an object without a prototype,
   * a getter that throws), this does not throw: it runs on the event's error path, whose error it must not replace.
   */
  fail(error: unknown): void {
    let name: unknown, code: unknown, message: unknown;
    try {
      ({ name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown });
    } catch {
      // A getter that threw: the texts below stand in.
    }
    this.error = {
      name: typeof name === 'string' ? cutText(name, MAX_LABEL_CHARS) : 'Error',
      ...(typeof code === 'string' ? { code: cutText(code, MAX_LABEL_CHARS) } : {}),
      message: cutText(typeof message === 'string' ? message : textOf(error), MAX_ERROR_CHARS),
    };
  }
}

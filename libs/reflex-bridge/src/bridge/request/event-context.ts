import { AsyncLocalStorage } from 'node:async_hooks';
import type { BridgeTier } from '../tiers/bridge-tier.js';
import type { SyntheticRequest } from './synthetic-request.js';
import type { EventTrace } from '../../metrics/event-trace.js';
import type { PendingArguments } from '../../state/handler-arguments.js';

/** What code running inside an event can reach: the tier and, on bridged tiers, the request. */
export interface EventContext {
  readonly tier: BridgeTier;
  readonly handlerName: string;
  /** The client token of the tab that sent the event. */
  readonly token?: string;
  readonly request?: SyntheticRequest;
  /** The per-event state view the handler runs on (internal: lets enhanced handlers find it). */
  readonly target?: object;
  /** The handler's arguments, resolved, or on `full` still pending, resolved after its guards (internal, as above). */
  readonly args?: unknown[] | PendingArguments;
  /** The event's devtools trace, when devtools are on (internal). */
  readonly trace?: EventTrace;
  /** Set when Nest's enhancers let the call through, to time guards apart from the handler (internal). */
  handlerEnteredAt?: number;
}

/** Where the free accessors stand: inside an event with async context, inside one without, or outside any. */
type AccessorScope = { context: EventContext } | { withoutAsyncContext: EventContext } | { outsideEvent: true };

const ASYNC_CONTEXT_HINT =
  'In a handler, use @EventRequest(), @EventUser() or @EventSession(), or this.request / this.user on an AppState; ' +
  'for the free accessors, set `bridge.asyncContext: true` in the ReflexBridgeModule options.';

/**
 * Thrown when code asks for the request of an event that has none (a `none`-tier event), or calls a free
 * accessor (`currentRequest()`, ...) where it cannot work: outside an event, or with `bridge.asyncContext`
 * off. The message says which, and what to use instead.
 * @publicApi
 */
export class NoRequestError extends Error {
  constructor(what: string, scope: EventContext | AccessorScope | undefined) {
    const context = scope && 'tier' in scope ? scope : scope && 'context' in scope ? scope.context : undefined;
    let message: string;
    if (context) {
      message =
        `${what} is not available: ${context.handlerName} runs on the "${context.tier}" bridge tier, which binds no request. ` +
        `Use @BridgeTier('auth_only') or @BridgeTier('full') on the handler or its state.`;
    } else if (scope && 'withoutAsyncContext' in scope) {
      message = `${what} is not available in ${scope.withoutAsyncContext.handlerName}: \`bridge.asyncContext\` is off (the default). ${ASYNC_CONTEXT_HINT}`;
    } else if (scope && 'outsideEvent' in scope) {
      message =
        `${what} is only available inside a ReflexBridge event handler, with \`bridge.asyncContext: true\`: without it, only before the ` +
        `handler's first \`await\` (after it, the handler no longer runs inside the event as far as the accessor can tell). ${ASYNC_CONTEXT_HINT}`;
    } else {
      message = `${what} is only available inside a ReflexBridge event handler.`;
    }
    super(message);
    this.name = 'NoRequestError';
  }
}

const storage = new AsyncLocalStorage<EventContext>();

/**
 * Where a handler's view and its request carry their event context, so `this.request` (AppState) and the
 * enhanced handler find it without AsyncLocalStorage.
 */
export const EVENT_CONTEXT = Symbol('reflex-bridge:event-context');

/**
 * The event whose handler is running synchronously right now when `bridge.asyncContext` is off: only so
 * that a free accessor called there can say that async context is off, rather than "outside an event".
 */
let runningWithoutAsyncContext: EventContext | undefined;

/**
 * Runs `fn` with `context` as the current event context for the free accessors below. With
 * `useAsyncContext` false it just runs `fn` (remembering the context only to explain accessor errors): on
 * Node 20, AsyncLocalStorage slows every promise in the process once used (`bridge.asyncContext`).
 */
export function runInEventContext<T>(context: EventContext, useAsyncContext: boolean, fn: () => T): T {
  if (useAsyncContext) return storage.run(context, fn);
  const previous = enterEventContext(context);
  try {
    return fn();
  } finally {
    leaveEventContext(previous);
  }
}

/**
 * {@link runInEventContext} without async context, for a caller that makes the call itself (the pipeline's common
 * event: no closure to run): makes `context` the running event's until {@link leaveEventContext}, which the caller
 * calls in a `finally` with what this returned.
 */
export function enterEventContext(context: EventContext): EventContext | undefined {
  const previous = runningWithoutAsyncContext;
  runningWithoutAsyncContext = context;
  return previous;
}

/** Ends what {@link enterEventContext} started. */
export function leaveEventContext(previous: EventContext | undefined): void {
  runningWithoutAsyncContext = previous;
}

/** Where a free accessor is being called from. */
function accessorScope(): AccessorScope {
  const context = storage.getStore();
  if (context) return { context };
  return runningWithoutAsyncContext ? { withoutAsyncContext: runningWithoutAsyncContext } : { outsideEvent: true };
}

/** Makes `carrier` (a state view's target, a synthetic request) carry `context` for the length of the event. */
export function attachEventContext(carrier: object, context: EventContext): void {
  // A plain assignment: defineProperty per event costs measurably more, and nothing enumerates symbols.
  (carrier as { [EVENT_CONTEXT]?: EventContext })[EVENT_CONTEXT] = context;
}

/**
 * Ends what {@link attachEventContext} started, once the event is over. A request may outlive its event
 * (a session store's callback, a closure of the app's middleware); while it carries the context it also
 * holds the event's view, arguments and state, and V8's young-generation collector can keep such a graph
 * alive from one dead, already promoted object: measured here, every bridged event's graph then survived
 * into old space (about 2 MB promoted per scavenge, scavenges 5-10 times longer, a mark-compact every
 * half second). Cutting the link at the end of the event keeps it young and cheap.
 */
export function detachEventContext(carrier: object): void {
  (carrier as { [EVENT_CONTEXT]?: EventContext })[EVENT_CONTEXT] = undefined;
}

/** The context a state view or request carries, if any. */
export function contextOf(carrier: object): EventContext | undefined {
  return (carrier as { [EVENT_CONTEXT]?: EventContext })[EVENT_CONTEXT];
}

/** The request of a context, or a {@link NoRequestError} naming the tier. */
export function requestOf(context: EventContext | undefined, what = 'The request'): SyntheticRequest {
  // Devtools on: the tier advisor learns that this handler reads the request.
  context?.trace?.usedRequest();
  if (!context?.request) throw new NoRequestError(what, context);
  return context.request;
}

/**
 * The bridged request of the event being handled, for code called from a handler. Needs
 * `bridge.asyncContext: true` (off by default). Throws a {@link NoRequestError} naming the tier when the
 * event has no request (`none` tier), and one saying what to use instead outside an event or without async
 * context. Inside an `AppState` handler, `this.request` works without async context.
 * @publicApi
 */
export function currentRequest(): SyntheticRequest {
  const scope = accessorScope();
  if ('context' in scope) return requestOf(scope.context, 'currentRequest()');
  throw new NoRequestError('currentRequest()', scope);
}

/**
 * The client token of the tab whose event is being handled (for `ReflexStateService` calls elsewhere),
 * or `undefined` outside an event. Needs `bridge.asyncContext: true`; without it, a call from a handler
 * throws a {@link NoRequestError} saying so (or, after the handler's first `await`, returns `undefined`).
 * @publicApi
 */
export function currentToken(): string | undefined {
  const scope = accessorScope();
  if ('withoutAsyncContext' in scope) throw new NoRequestError('currentToken()', scope);
  return 'context' in scope ? scope.context.token : undefined;
}

/** The authenticated user of the current event (`req.user`), or `undefined` when anonymous. @publicApi */
export function currentUser<TUser = unknown>(): TUser | undefined {
  return currentRequest().user as TUser | undefined;
}

/** The session of the current event (`req.session`). @publicApi */
export function currentSession<TSession = Record<string, unknown>>(): TSession {
  return currentRequest().session as TSession;
}

import { AsyncLocalStorage } from 'node:async_hooks';
import type { BridgeTier } from './bridge-tier.js';
import type { SyntheticRequest } from './synthetic-request.js';

/** What code running inside an event can reach: the tier and, on bridged tiers, the request. */
export interface EventContext {
  readonly tier: BridgeTier;
  readonly handlerName: string;
  /** The client token of the tab that sent the event. */
  readonly token?: string;
  readonly request?: SyntheticRequest;
  /** The per-event state view the handler runs on (internal: lets enhanced handlers find it). */
  readonly target?: object;
  /** The handler's resolved arguments (internal, as above). */
  readonly args?: unknown[];
  /** Set when Nest's enhancers let the call through, to time guards apart from the handler (internal). */
  handlerEnteredAt?: number;
}

/** Thrown when code asks for the request of an event that has none. */
export class NoRequestError extends Error {
  constructor(what: string, context: EventContext | undefined) {
    super(
      context
        ? `${what} is not available: ${context.handlerName} runs on the "${context.tier}" bridge tier, which binds no request. ` +
            `Use @BridgeTier('auth_only') or @BridgeTier('full') on the handler or its state.`
        : `${what} is only available inside a ReflexBridge event handler.`,
    );
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
 * Runs `fn` with `context` as the current event context for the free accessors below. With
 * `useAsyncContext` false it just runs `fn`: on Node 20, AsyncLocalStorage slows every promise in the
 * process once used (`bridge.asyncContext`).
 */
export function runInEventContext<T>(context: EventContext, useAsyncContext: boolean, fn: () => T): T {
  return useAsyncContext ? storage.run(context, fn) : fn();
}

/** Makes `carrier` (a state view's target, a synthetic request) carry `context` for the length of the event. */
export function attachEventContext(carrier: object, context: EventContext): void {
  // A plain assignment: defineProperty per event costs measurably more, and nothing enumerates symbols.
  (carrier as { [EVENT_CONTEXT]?: EventContext })[EVENT_CONTEXT] = context;
}

/** The context a state view or request carries, if any. */
export function contextOf(carrier: object): EventContext | undefined {
  return (carrier as { [EVENT_CONTEXT]?: EventContext })[EVENT_CONTEXT];
}

/** The request of a context, or a {@link NoRequestError} naming the tier. */
export function requestOf(context: EventContext | undefined, what = 'The request'): SyntheticRequest {
  if (!context?.request) throw new NoRequestError(what, context);
  return context.request;
}


/**
 * The bridged request of the event being handled, for code called from a handler (needs
 * `bridge.asyncContext`, on by default). Throws a {@link NoRequestError} naming the tier when the event has
 * no request (`none` tier). Inside an `AppState` handler, `this.request` works without async context.
 */
export function currentRequest(): SyntheticRequest {
  return requestOf(storage.getStore());
}

/**
 * The client token of the tab whose event is being handled (for `ReflexStateService` calls elsewhere),
 * or `undefined` outside an event.
 */
export function currentToken(): string | undefined {
  return storage.getStore()?.token;
}

/** The authenticated user of the current event (`req.user`), or `undefined` when anonymous. */
export function currentUser<TUser = unknown>(): TUser | undefined {
  return currentRequest().user as TUser | undefined;
}

/** The session of the current event (`req.session`). */
export function currentSession<TSession = Record<string, unknown>>(): TSession {
  return currentRequest().session as TSession;
}

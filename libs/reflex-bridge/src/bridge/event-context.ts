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

/** Runs `fn` with `context` as the current event context (for the accessors below). */
export function runInEventContext<T>(context: EventContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The current event context, or `undefined` outside an event. */
export function currentEventContext(): EventContext | undefined {
  return storage.getStore();
}

/**
 * The bridged request of the event being handled, for code called from a handler.
 * Throws a {@link NoRequestError} naming the tier when the event has no request (`none` tier).
 */
export function currentRequest(): SyntheticRequest {
  const context = storage.getStore();
  if (!context?.request) throw new NoRequestError('The request', context);
  return context.request;
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

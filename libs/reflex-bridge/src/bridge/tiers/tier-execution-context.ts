import type { ContextType, ExecutionContext, Type } from '@nestjs/common';
import type { HttpArgumentsHost, RpcArgumentsHost, WsArgumentsHost } from '@nestjs/common/interfaces/features/arguments-host.interface.js';
import type { ClientEvent } from '../../protocol/client-event.js';
import type { BridgeErrorPayload } from '../../protocol/bridge-error.js';
import type { RouterData } from '../../protocol/inbound-event.js';
import type { HandlerDefinition } from '../../state/state-definition.js';
import type { EventClient } from '../../common/event-client.js';
import type { EventTimer } from '../../metrics/event-timer.js';
import type { BridgeOutcome } from '../bridge-outcome.js';
import type { BridgeTier } from './bridge-tier.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';
import type { SyntheticResponse } from '../request/synthetic-response.js';

/** What `getType()` answers on a tier guard's context: an event on the `/_event` socket, not an HTTP request. @publicApi */
export const REFLEX_CONTEXT_TYPE = 'reflex';

/** Builds a bridged event's synthetic request and response on first use (the request builder). */
export interface RequestSource {
  bind(event: TierExecutionContext): void;
}

/** `getHandler()` of a built-in handler that has no method (such as `live_subscribe`): carries no metadata. */
function builtInHandler(): void {}

/** `switchToHttp().getNext()`: tier guards run the middleware themselves; calling it does nothing. */
function noNext(): void {}

/** One event as its tier guards see it: its outcome so far, with the handler and router data it is for. */
export interface TierEvent extends BridgeOutcome {
  readonly handler: HandlerDefinition;
  readonly routerData: RouterData;
}

/**
 * The `ExecutionContext` the tier guards receive for one event, which is also the event's {@link BridgeOutcome}:
 * one object per event, methods on the prototype, so building it costs one allocation.
 *
 * - `getType()` is `'reflex'`; `getClass()` the state class; `getHandler()` the handler method (its metadata,
 *   `@BridgeTier` included, is read from it).
 * - `switchToHttp().getRequest()` / `getResponse()` are the synthetic request and response. They are built on
 *   first use, and only once the tier is bridged: on `none` they are `undefined` (the tier binds no request).
 * - `getArgs()` is `[request, response, outcome]`: the third argument is this context as the event's
 *   {@link TierEvent}, where a tier guard records what it did (fast path, redirect).
 * - `switchToWs()`: `getClient()` is the event's client, `getData()` the router data, `getPattern()` the event name.
 * @publicApi
 */
export class TierExecutionContext implements ExecutionContext, HttpArgumentsHost, WsArgumentsHost, RpcArgumentsHost, TierEvent {
  tier: BridgeTier = 'none';
  request?: SyntheticRequest = undefined;
  response?: SyntheticResponse = undefined;
  redirect?: ClientEvent = undefined;
  cookieHeader?: string = undefined;
  fastPath?: boolean = undefined;
  cacheReadAt?: number = undefined;
  sessionReadAtMs?: number = undefined;
  sessionEndsReadAt?: number = undefined;
  handoffRefusal?: BridgeErrorPayload = undefined;
  sessionIdBefore?: string = undefined;
  hadUser?: boolean = undefined;
  /** Only set on uploads (declared, not initialised: events keep their shape and cost). */
  declare guardsChecked?: boolean;

  constructor(
    /** The handler the event calls. */
    readonly handler: HandlerDefinition,
    /** The client that sent the event. */
    readonly client: EventClient,
    /** The event's router data (the page, the query, and what the server added). */
    readonly routerData: RouterData,
    readonly timer: EventTimer | undefined,
    private readonly requests: RequestSource,
  ) {}

  getType<TContext extends string = ContextType>(): TContext {
    return REFLEX_CONTEXT_TYPE as TContext;
  }

  getClass<T = unknown>(): Type<T> {
    return this.handler.state.cls as Type<T>;
  }

  getHandler(): (...args: unknown[]) => unknown {
    return (this.handler.state.cls.prototype[this.handler.method] as ((...args: unknown[]) => unknown) | undefined) ?? builtInHandler;
  }

  getArgs<T extends unknown[] = unknown[]>(): T {
    return [this.getRequest(), this.getResponse(), this] as T;
  }

  getArgByIndex<T = unknown>(index: number): T {
    if (index === 0) return this.getRequest() as T;
    if (index === 1) return this.getResponse() as T;
    return (index === 2 ? this : undefined) as T;
  }

  switchToHttp(): HttpArgumentsHost {
    return this;
  }

  switchToWs(): WsArgumentsHost {
    return this;
  }

  switchToRpc(): RpcArgumentsHost {
    return this;
  }

  /** The synthetic request; `undefined` on the `none` tier. */
  getRequest<T = SyntheticRequest>(): T {
    if (this.request === undefined && this.tier !== 'none') this.requests.bind(this);
    return this.request as T;
  }

  /** The synthetic response; `undefined` on the `none` tier. */
  getResponse<T = SyntheticResponse>(): T {
    if (this.response === undefined && this.tier !== 'none') this.requests.bind(this);
    return this.response as T;
  }

  getNext<T = () => void>(): T {
    return noNext as T;
  }

  getClient<T = EventClient>(): T {
    return this.client as T;
  }

  getData<T = RouterData>(): T {
    return this.routerData as T;
  }

  getPattern(): string {
    return this.handler.fullName;
  }

  /** RPC view: the context is the client. */
  getContext<T = EventClient>(): T {
    return this.client as T;
  }
}

/** The event behind a tier guard's context (its third argument), where the guard records what it did. @publicApi */
export function outcomeOf(context: ExecutionContext): TierEvent {
  return context.getArgByIndex<TierEvent>(2);
}

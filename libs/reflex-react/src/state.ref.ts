import type { StateVars } from '@reflex-bridge/client';

/** Phantom keys: they carry types only and never exist at run time. */
declare const VARS: unique symbol;
declare const PAYLOAD: unique symbol;

/**
 * A server state as the frontend addresses it: its full wire name, and (as a type only) its public vars.
 * `reflex-bridge codegen` writes one per `@State()` class; {@link stateRef} makes an untyped one by hand.
 */
export interface StateRef<Vars extends object = StateVars, Name extends string = string> {
  /** Full state name on the wire, e.g. `reflex___state____state.cart_state`. */
  readonly $state: Name;
  /** Type only: the state's vars (computed vars included). */
  readonly [VARS]?: Vars;
}

/**
 * An event handler of a server state: its state's full name, its method name, and (as a type only) the payload it
 * takes. `reflex-bridge codegen` writes one per `@EventHandler()` method; {@link handlerRef} makes one by hand.
 */
export interface HandlerRef<Payload extends object = Record<string, unknown>> {
  /** Full state name on the wire. */
  readonly $state: string;
  /** The handler (method) name, e.g. `add`. */
  readonly $handler: string;
  /** Type only: the payload the handler takes (handler arguments keyed by name). */
  readonly [PAYLOAD]?: Payload;
}

/** The vars of a {@link StateRef}. */
export type VarsOf<S> = S extends StateRef<infer Vars> ? Vars : never;

/** The payload of a {@link HandlerRef}. */
export type PayloadOf<H> = H extends HandlerRef<infer Payload> ? Payload : never;

/** A payload with no keys: the handler takes no arguments. */
export type EmptyPayload = Record<string, never>;

/** The function {@link useReflexEvent} returns: the payload is optional when the handler takes none. */
export type EventSender<Payload extends object> = Record<never, never> extends Payload ? (payload?: Payload) => void : (payload: Payload) => void;

/**
 * An untyped reference to a state by its full wire name, for apps that do not run codegen.
 * @example `const cart = stateRef('reflex___state____state.cart_state');`
 */
export function stateRef<Vars extends object = StateVars>(fullName: string): StateRef<Vars> {
  if (typeof fullName !== 'string' || fullName.length === 0) throw new TypeError('stateRef(): the state name must be a non-empty string.');
  return { $state: fullName };
}

/**
 * A reference to a handler by its state's full wire name and its method name, for apps that do not run codegen.
 * @example `const add = handlerRef<{ productId: number }>('reflex___state____state.cart_state', 'add');`
 */
export function handlerRef<Payload extends object = Record<string, unknown>>(state: string | StateRef<object>, handler: string): HandlerRef<Payload> {
  const $state = typeof state === 'string' ? state : state.$state;
  if (typeof $state !== 'string' || $state.length === 0) throw new TypeError('handlerRef(): the state name must be a non-empty string.');
  if (typeof handler !== 'string' || handler.length === 0) throw new TypeError('handlerRef(): the handler name must be a non-empty string.');
  return { $state, $handler: handler };
}

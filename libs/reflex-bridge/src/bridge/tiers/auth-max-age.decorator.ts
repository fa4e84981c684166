import { Reflector } from '@nestjs/core';
import type { HandlerDefinition } from '../../state/state-definition.js';

/** Typed metadata key written by {@link AuthMaxAge}: the age in seconds. */
export const AuthMaxAgeMetadata = Reflector.createDecorator<number>();

/**
 * How old the user a handler sees may be, in seconds, when fast auth answers its `auth_only` events: a fast-auth
 * snapshot read from the session longer ago than that is not used, and the event runs `bridge.authMiddleware`
 * (which writes a new snapshot). `0`: the middleware always runs for this handler, so a session revoked behind the
 * module's back (deleted in the store, say after a password change) is seen at once, while the app's other handlers
 * keep the fast path and its `eventCache.ttlSeconds`. On a state class it applies to each of its handlers (and its
 * subclasses'); on a handler it beats its class's. Only `auth_only` events with `fastAuth` consult it: `full` always
 * runs the middleware, `none` none.
 * @example
 * ```ts
 * @State() @BridgeTier('auth_only')
 * export class AccountState {
 *   constructor(private readonly users: UserService) {}
 *
 *   @EventHandler() @AuthMaxAge(0)
 *   async changeEmail(@EventUser() user: User, @Payload('email') email: string) {
 *     await this.users.changeEmail(user.id, email);
 *   }
 * }
 * ```
 * @publicApi
 */
export function AuthMaxAge(seconds: number): ClassDecorator & MethodDecorator {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`@AuthMaxAge() takes a number of seconds, 0 or more, got ${typeof seconds === 'number' ? seconds : JSON.stringify(seconds)}`);
  }
  return AuthMaxAgeMetadata(seconds);
}

/** Each handler's limit in milliseconds (`null`: none), read from its metadata once. */
const limits = new WeakMap<HandlerDefinition, number | null>();

/**
 * The oldest fast-auth snapshot `handler` accepts, in milliseconds: `@AuthMaxAge` on its method, else on its state
 * class or one it extends; `undefined` when neither has one, or no handler is known (a context made by hand). Read
 * once per handler.
 */
export function authMaxAgeMsOf(handler: HandlerDefinition | undefined): number | undefined {
  if (handler === undefined) return undefined;
  let limit = limits.get(handler);
  if (limit === undefined) {
    const method = handler.state.cls.prototype[handler.method] as object | undefined;
    const seconds = (method && (Reflect.getMetadata(AuthMaxAgeMetadata.KEY, method) as number | undefined)) ?? (Reflect.getMetadata(AuthMaxAgeMetadata.KEY, handler.state.cls) as number | undefined);
    limit = seconds === undefined ? null : seconds * 1000;
    limits.set(handler, limit);
  }
  return limit ?? undefined;
}

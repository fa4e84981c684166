import type { ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { findUser, SESSION_COOKIE, SESSION_SECRET, type AuthStack } from './auth-stack.js';

/** Why the `auth_only + fast auth` scenario reports no figure, when {@link fastAuthModuleOptions} returns null. */
export const FAST_AUTH_UNAVAILABLE = 'not available: fast auth is not enabled for the bench app (see bench/src/server/fast-auth.ts)';

/**
 * THE ONE PLACE that turns the `auth_only + fast auth` scenario of the tiers benchmark on or off.
 *
 * Returns the extra `ReflexBridgeModule.forRoot` options that enable fast auth for the bench app's auth stack
 * (express-session signed with `SESSION_SECRET`, cookie `SESSION_COOKIE`, users found by `findUser(id)`), or
 * `null` when the library cannot (the scenario then reports "not available": value null, met false, and this
 * note; it is never faked). The snapshot lives in the default in-memory event cache (TTL 60 s); the first
 * event of each session runs the middleware and writes it, the warm-up takes care of that.
 */
export function fastAuthModuleOptions(_stack: AuthStack): Partial<ReflexBridgeModuleOptions> | null {
  return { fastAuth: { sessionSecret: SESSION_SECRET, sessionCookieName: SESSION_COOKIE, loadUser: (id) => findUser(id) } };
}

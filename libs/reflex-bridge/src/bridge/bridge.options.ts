import type { Type } from '@nestjs/common';
import type { RequestHandler } from 'express';
import type { BridgeMode } from './tiers/bridge-tier.js';
import type { BridgeTierResolverFn, BridgeTierResolver } from './tiers/bridge-tier-resolver.js';
import type { AuthOnlyTierGuard } from './tiers/auth-only-tier.guard.js';
import type { FullTierGuard } from './tiers/full-tier.guard.js';
import type { NoneTierGuard } from './tiers/none-tier.guard.js';

/** The `bridge` section of the module options. */
export interface BridgeOptions {
  /**
   * Global mode: `full` runs the full tier for every event, `none` runs nothing, `smart` runs `full` for
   * bridge-aware states (extending `AppState`, asking for the request/user/session, or carrying guards) and
   * `none` for plain UI state.
   * @default 'full'
   */
  mode?: BridgeMode;
  /**
   * Picks a tier per event before anything else: a function `(stateClass, event) => tier`, or an injectable
   * class implementing {@link BridgeTierResolver}. An answer that is not a tier falls through to the next rule.
   * @default undefined
   */
  resolver?: BridgeTierResolverFn | Type<BridgeTierResolver>;
  /**
   * The session and authentication middleware run by `auth_only` (and first by `full`), e.g.
   * `[sessionMiddleware, passport.initialize(), passport.session()]`: the same instances the app uses for HTTP.
   * @default []
   */
  authMiddleware?: RequestHandler[];
  /**
   * Further middleware `full` runs after `authMiddleware` (locale, flash messages, custom checks).
   * @default []
   */
  fullMiddleware?: RequestHandler[];
  /**
   * Which request values `AppState` mirrors into vars after bridged events: flash messages
   * (`req.flash()`, e.g. connect-flash), the CSRF token (`req.csrfToken()`) and the active language
   * (`req.language`, else the first `Accept-Language`). Each mirror costs a little per event and delta bytes.
   * @default { flash: true, csrf: true, language: true } (all off, where unset, with `preset: 'lean'`)
   */
  mirrors?: MirrorOptions;
  /**
   * Refresh `AppState`'s `isAuthenticated` / `username` snapshot vars after every bridged event.
   * @default true (false, where unset, with `preset: 'lean'`)
   */
  authAutoSync?: boolean;
  /**
   * Response statuses from a middleware that become a client `_redirect` (with the `Location` header as path).
   * @default [301, 302, 303, 307, 308]
   */
  redirectStatuses?: number[];
  /**
   * Trust the proxy in front of the app: the last `X-Forwarded-For` entry (what the proxy saw) becomes the
   * client IP, and
   * `X-Forwarded-Proto: https` makes bridged requests secure (needed for `cookie.secure` sessions to issue
   * cookies on login over an event). The origin policy then takes the app's own origin from the last
   * `X-Forwarded-Proto` and `X-Forwarded-Host` entries (else the `Host` header), so a page served over HTTPS by
   * the proxy counts as same-origin. Set it when the app runs behind a proxy.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * Header names (any case) left out of the root state's `router` var, which page scripts can read, beside those
   * the module always leaves out: `cookie`, `authorization`, `proxy-authorization`, the client address chain
   * (`forwarded`, `x-forwarded-for`, `x-real-ip`), and any name containing a word such as `token`, `secret`,
   * `jwt`, `auth`, `session`, `signature`, `password`, `api-key`, `principal`, `oidc` or `csrf` (`X-Csrftoken` too).
   * Name here the headers your proxy or CDN adds that page scripts must not see (a shared secret such as
   * `x-origin-verify`). Handlers still read every header from the request.
   * @default []
   */
  withheldHeaders?: string[];
  /**
   * What happens to the other live connections of a session when it ends (logout, `session.destroy()`,
   * regeneration), on every worker: `'reauthenticate'` runs the auth middleware again for each and pushes
   * fresh `AppState` snapshots (so they show as logged out at once), and scopes their live lists to the user it
   * finds; `'disconnect'` drops them (clients
   * reconnect and re-hydrate). Either way their next event reads the live session, so it is anonymous.
   * @default 'reauthenticate'
   */
  sessionEndAction?: 'reauthenticate' | 'disconnect';
  /**
   * Milliseconds the bridge waits for the app's middleware chain (`authMiddleware`, then `fullMiddleware`) on an
   * event's request, or on a connecting socket's, and for the session's save at the end of an event. Past it the event
   * is answered `session_unavailable`: for the chain, the handler does not run and nothing changes, and whatever the
   * chain does later is ignored; for the save, the event's change to the state stands and its session change may be
   * lost (no snapshot is written and no cookie handed off for it). A session store that stops
   * answering (a frozen Redis: connect-redis and node-redis bound no command once sent) otherwise held that
   * client's events, and its tab, for as long as the store stayed silent. Other clients are not affected either way.
   * @default 10_000
   */
  middlewareTimeoutMs?: number;
  /**
   * Bind each event's context to AsyncLocalStorage, so the free accessors `currentRequest()`,
   * `currentUser()`, `currentSession()` and `currentToken()` work in code called from handlers (services,
   * helpers). Off by default: on Node 20 AsyncLocalStorage slows every promise in the process once used,
   * which costs the `full` tier about a third of its throughput; on Node 24 it adds about half the instructions per
   * event it adds on Node 20 (see docs/performance.md). Handler
   * parameters (`@EventRequest()`, `@EventUser()`, `@EventSession()`), `this.request` / `this.user` on
   * `AppState` and Nest's guards, interceptors and filters work either way. Turn it on when your code uses
   * the free accessors, or when the app already uses AsyncLocalStorage (nestjs-cls, OpenTelemetry), which
   * pays that cost anyway.
   * @default false
   */
  asyncContext?: boolean;
  /**
   * Subclasses of the tier guards to use instead of the built-in ones: `{ none?, authOnly?, full? }`, each a
   * class extending {@link NoneTierGuard}, {@link AuthOnlyTierGuard} or {@link FullTierGuard}, created by the
   * module with DI (its dependencies: the base class's, and global providers). In tests,
   * `overrideProvider(AuthOnlyTierGuard).useClass(...)` does the same. See docs/bridge-tiers.md.
   * @default the built-in guards
   */
  tierGuards?: TierGuardOptions;
  /**
   * The name shown in `AppState.username` for a user.
   * @default the user's `username`, `email` or `name`, the first that is a string
   */
  usernameOf?: (user: Record<string, unknown>) => string;
}

/** The `bridge.mirrors` switches. */
export interface MirrorOptions {
  /** Mirror flash messages into `AppState.flashMessages`. @default true */
  flash?: boolean;
  /** Mirror the CSRF token into `AppState.csrfToken`. @default true */
  csrf?: boolean;
  /** Mirror the active language into `AppState.language`. @default true */
  language?: boolean;
}

/** The `bridge.tierGuards` classes. */
export interface TierGuardOptions {
  /** Replaces {@link NoneTierGuard}. */
  none?: Type<NoneTierGuard>;
  /** Replaces {@link AuthOnlyTierGuard}. */
  authOnly?: Type<AuthOnlyTierGuard>;
  /** Replaces {@link FullTierGuard}. */
  full?: Type<FullTierGuard>;
}

import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import type { EventCacheService } from '../../cache/event-cache.service.js';
import type { AuthSnapshot } from '../../cache/event-cache.options.js';
import { isThenable } from '../../common/maybe-promise.js';
import { parseCookieHeaderShared } from '../request/cookie-header.js';
import { SessionCookieVerifier } from './signed-session-cookie.js';
import { SyntheticRequest } from '../request/synthetic-request.js';

type FastAuthConfig = NonNullable<ResolvedReflexBridgeOptions['fastAuth']>;

/** Thrown when a handler reads `req.session` on the fast path before loading it. @publicApi */
export class SessionNotLoadedError extends Error {
  constructor() {
    super(
      'This event took the fast-auth path, so the session was not loaded. Ask for it with @EventSession(), ' +
        'or call `await request.loadSession()` first.',
    );
    this.name = 'SessionNotLoadedError';
  }
}

/** What {@link FastAuth.authenticate} found: a hit binds the request; the session id is known once the cookie verified. */
export interface FastAuthResult {
  hit: boolean;
  sessionId?: string;
  /** A miss because the snapshot was older than the handler accepts (`@AuthMaxAge`). */
  stale?: boolean;
}

const NO_SESSION: FastAuthResult = Object.freeze({ hit: false });

/** Where a {@link FastAuthRequest} keeps its lazy-session state (a symbol: invisible to middleware). */
const LAZY_SESSION = Symbol('reflex-bridge:lazy-session');

/**
 * A fast-auth hit's lazy session: how to load it, and whether it is being loaded, or was. A class, not an object
 * literal: V8 may decide to allocate a literal's objects straight into the old generation once most of them
 * outlived a young collection (allocation-site pretenuring), and a callgrind count of the fast-auth event found
 * this one's site doing so, at about 1,600 instructions per event. Instances of a class are never pretenured.
 */
class LazySession {
  loading = false;
  loaded = false;

  constructor(readonly load: () => Promise<unknown>) {}
}

/**
 * Whether `snapshot` was read from its session `maxAgeMs` ago or less. One without a time of its own (written before
 * snapshots had one, or by hand) is as old as can be. A time ahead of this clock (another worker's) counts as now.
 */
function readWithin(snapshot: AuthSnapshot, maxAgeMs: number): boolean {
  const readAtMs = snapshot.readAtMs;
  return typeof readAtMs === 'number' && Date.now() - readAtMs <= maxAgeMs;
}

/** `req.isAuthenticated()` of a fast-auth hit: one shared function, as passport's own (it reads `this`). */
function isAuthenticatedByFastAuth(this: SyntheticRequest): boolean {
  return this.user !== undefined;
}

/**
 * The request of an event that may take the fast-auth path. Once {@link FastAuthRequest.bindLazySession}
 * ran, its `session` is lazy: reading it before `loadSession()` throws a {@link SessionNotLoadedError}, and
 * `loadSession()` fills it by running the session middleware. The accessor lives on the prototype, so a
 * request pays nothing for it per event (a per-request `Object.defineProperty` accessor costs about 2 µs);
 * the first assignment (by the session middleware, on a miss or a lazy load) turns `session` into an
 * ordinary own property, so `delete req.session` (express-session's `destroy`) and later assignments behave
 * exactly as on any request.
 */
export class FastAuthRequest extends SyntheticRequest {
  /** Set by a fast-auth hit: the lazy session. */
  [LAZY_SESSION]?: LazySession;

  /** Marks the session lazy, loaded on demand by `load` (which runs the session middleware). */
  bindLazySession(load: () => Promise<unknown>): void {
    const lazy = new LazySession(load);
    this[LAZY_SESSION] = lazy;
    // A closure rather than a shared method: `const { loadSession } = req` keeps working.
    this.loadSession = () => loadLazySession(this, lazy);
  }
}

/** What a bound request's `loadSession()` does: runs the session middleware once, then answers the session. */
async function loadLazySession(request: FastAuthRequest, lazy: LazySession): Promise<unknown> {
  if (!lazy.loaded) {
    lazy.loading = true;
    try {
      await lazy.load();
    } finally {
      lazy.loading = false;
    }
  }
  // The middleware may have set no session at all: answer "none" rather than the not-loaded error.
  return lazy.loaded ? request.session : undefined;
}

// Declared outside the class body: a TypeScript accessor cannot replace the base class's `session` field
// declaration. Only reached while `session` is not an own property of the request.
Object.defineProperty(FastAuthRequest.prototype, 'session', {
  configurable: true,
  enumerable: false,
  get(this: FastAuthRequest): SyntheticRequest['session'] {
    const lazy = this[LAZY_SESSION];
    // While loading, the session middleware itself checks `req.session`: it must see "none yet".
    if (lazy && !lazy.loaded && !lazy.loading) throw new SessionNotLoadedError();
    return undefined;
  },
  set(this: FastAuthRequest, value: SyntheticRequest['session']) {
    const lazy = this[LAZY_SESSION];
    if (lazy) lazy.loaded = true;
    Object.defineProperty(this, 'session', { value, writable: true, enumerable: true, configurable: true });
  },
});

/**
 * Fast auth for one bridge: with a fresh snapshot for the request's session, sets `req.user` from the
 * snapshot (loading the user by id; anonymous when the snapshot says so or the user is gone) and gives the
 * request a lazy session. Never trusts a cookie whose signature does not verify. Answers synchronously when
 * the snapshot and the user are at hand (the in-memory cache and a synchronous `loadUser`), so the common
 * event costs no promise.
 */
export class FastAuth {
  private readonly verifier: SessionCookieVerifier;

  constructor(
    private readonly config: FastAuthConfig,
    private readonly cache: EventCacheService,
  ) {
    this.verifier = new SessionCookieVerifier(config.sessionSecrets);
  }

  /** The session id in a request's signed session cookie, when the signature checks out. */
  sessionIdOf(request: SyntheticRequest): string | undefined {
    return this.verifier.unsign(parseCookieHeaderShared(request.headers.cookie)[this.config.sessionCookieName]);
  }

  /**
   * Tries the fast path for `request`. `loadSession` runs the session middleware when a handler asks for
   * the session. A miss (no verified cookie, no snapshot, or one read from the session more than `maxAgeMs` ago)
   * leaves the request untouched; any failure is left to the caller, which falls back to the middleware.
   */
  authenticate(request: FastAuthRequest, loadSession: () => Promise<unknown>, maxAgeMs?: number): FastAuthResult | Promise<FastAuthResult> {
    const sessionId = this.sessionIdOf(request);
    if (!sessionId) return NO_SESSION;
    const snapshot = this.cache.peek(sessionId);
    return isThenable(snapshot)
      ? Promise.resolve(snapshot).then((found) => this.withSnapshot(request, sessionId, found, loadSession, maxAgeMs))
      : this.withSnapshot(request, sessionId, snapshot, loadSession, maxAgeMs);
  }

  private withSnapshot(
    request: FastAuthRequest,
    sessionId: string,
    snapshot: AuthSnapshot | undefined,
    loadSession: () => Promise<unknown>,
    maxAgeMs: number | undefined,
  ): FastAuthResult | Promise<FastAuthResult> {
    if (!snapshot) return { hit: false, sessionId };
    if (maxAgeMs !== undefined && !readWithin(snapshot, maxAgeMs)) return { hit: false, sessionId, stale: true };
    if (!snapshot.isAuthenticated || snapshot.userId === null) return this.bind(request, sessionId, undefined, loadSession);
    const user = this.config.loadUser(snapshot.userId);
    return isThenable(user)
      ? Promise.resolve(user).then((loaded) => this.bind(request, sessionId, loaded, loadSession))
      : this.bind(request, sessionId, user, loadSession);
  }

  private bind(request: FastAuthRequest, sessionId: string, user: unknown, loadSession: () => Promise<unknown>): FastAuthResult {
    request.user = user ?? undefined;
    request.sessionID = sessionId;
    request.isAuthenticated = isAuthenticatedByFastAuth;
    request.bindLazySession(loadSession);
    return { hit: true, sessionId };
  }
}

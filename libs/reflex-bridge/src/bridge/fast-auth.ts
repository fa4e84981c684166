import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { EventCacheService } from '../cache/event-cache.service.js';
import type { AuthSnapshot } from '../cache/event-cache.options.js';
import { unsignSessionCookie } from './signed-session-cookie.js';
import type { SyntheticRequest } from './synthetic-request.js';

/** Thrown when a handler reads `req.session` on the fast path before loading it. */
export class SessionNotLoadedError extends Error {
  constructor() {
    super(
      'This event took the fast-auth path, so the session was not loaded. Ask for it with @EventSession(), ' +
        'or call `await request.loadSession()` first.',
    );
    this.name = 'SessionNotLoadedError';
  }
}

/** The session id in a request's signed session cookie, when the signature checks out. */
export function sessionIdOf(request: SyntheticRequest, fastAuth: NonNullable<ResolvedReflexBridgeOptions['fastAuth']>): string | undefined {
  return unsignSessionCookie(request.cookies[fastAuth.sessionCookieName], fastAuth.sessionSecrets);
}

/**
 * The fast-auth path: with a fresh snapshot for the request's session, sets `req.user` from the snapshot
 * (loading the user by id; anonymous when the snapshot says so or the user is gone) and gives the request
 * a lazy session that `loadSession()` fills by running the real middleware. Returns false when there is no
 * usable snapshot; any failure is left to the caller, which falls back to the middleware.
 */
export async function tryFastAuth(
  request: SyntheticRequest,
  cache: EventCacheService,
  fastAuth: NonNullable<ResolvedReflexBridgeOptions['fastAuth']>,
  loadSession: () => Promise<void>,
): Promise<{ hit: boolean; sessionId?: string }> {
  const sessionId = sessionIdOf(request, fastAuth);
  if (!sessionId) return { hit: false };
  const snapshot: AuthSnapshot | undefined = await cache.get(sessionId);
  if (!snapshot) return { hit: false, sessionId };
  const user = snapshot.isAuthenticated && snapshot.userId !== null ? await fastAuth.loadUser(snapshot.userId) : undefined;
  request.user = user ?? undefined;
  request.sessionID = sessionId;
  request.isAuthenticated = () => request.user !== undefined;
  let session: SyntheticRequest['session'];
  let loaded = false;
  let loading = false;
  Object.defineProperty(request, 'session', {
    configurable: true,
    enumerable: true,
    get: () => {
      // While loading, the session middleware itself checks `req.session`: it must see "none yet".
      if (!loaded && !loading) throw new SessionNotLoadedError();
      return session;
    },
    set: (value: SyntheticRequest['session']) => {
      loaded = true;
      session = value;
    },
  });
  request.loadSession = async () => {
    if (!loaded) {
      loading = true;
      try {
        await loadSession();
      } finally {
        loading = false;
      }
    }
    return session;
  };
  return { hit: true, sessionId };
}

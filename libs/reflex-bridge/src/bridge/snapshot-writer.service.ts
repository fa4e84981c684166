import { Inject, Injectable } from '@nestjs/common';
import type { MaybePromise } from '../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { EventCacheService } from '../cache/event-cache.service.js';
import type { AuthSnapshot } from '../cache/event-cache.options.js';
import type { BridgeOutcome } from './bridge-outcome.js';
import { cookieNames, parseCookieHeaderShared } from './cookie-header.js';
import type { SyntheticRequest } from './synthetic-request.js';

/**
 * Keeps the fast-auth snapshots in the event cache up to date after a bridged event that ran the auth chain:
 * a logout (the user went away, or the session id changed) drops the old session's snapshot; otherwise the
 * current one is written, with fast auth on, for a session that has a cookie. Snapshots serve fast auth only,
 * and fast auth finds them through the session cookie: an event without one (anonymous, no session saved)
 * writes nothing.
 */
@Injectable()
export class SnapshotWriter {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly cache: EventCacheService,
  ) {}

  /** Called once the event's response ended (so a cookie the session middleware set is on it). Synchronous with the in-memory cache. */
  update(outcome: BridgeOutcome): MaybePromise<void> {
    const request = outcome.request;
    if (!request || !this.cache.enabled) return;
    let sessionId: string | undefined;
    try {
      sessionId = request.sessionID;
    } catch {
      return;
    }
    const before = outcome.sessionIdBefore;
    const loggedOut = before !== undefined && before !== '' && (before !== sessionId || (outcome.hadUser === true && request.user === undefined));
    // Snapshots only serve fast auth: without it, keep the cache out of the event path.
    const snapshot = !outcome.fastPath && sessionId && this.options.fastAuth && this.hasSessionCookie(outcome) ? this.snapshotOf(request) : undefined;
    const write = () => (snapshot ? this.cache.put(sessionId!, snapshot) : undefined);
    return loggedOut ? this.cache.invalidate(before, 'logout').then(write) : write();
  }

  /** The snapshot to keep for a request's user; undefined for a user without an id, whom fast auth could not rebuild. */
  snapshotOf(request: SyntheticRequest): AuthSnapshot | undefined {
    const user = request.user as Record<string, unknown> | undefined;
    const userId = user ? (this.options.fastAuth?.userIdOf?.(user) ?? (user.id as string | number | undefined)) : null;
    if (userId === undefined) return undefined;
    return { userId, isAuthenticated: user !== undefined };
  }

  /** The request arrived with the session cookie, or the session middleware just set one. */
  private hasSessionCookie(outcome: BridgeOutcome): boolean {
    const name = this.options.fastAuth!.sessionCookieName;
    if (parseCookieHeaderShared(outcome.cookieHeader)[name] !== undefined) return true;
    const setCookies = outcome.response?.setCookies();
    return setCookies !== undefined && setCookies.length > 0 && cookieNames(setCookies).includes(name);
  }
}

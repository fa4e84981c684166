import { Inject, Injectable, Logger } from '@nestjs/common';
import type { MaybePromise } from '../../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { EventCacheService } from '../../cache/event-cache.service.js';
import type { AuthSnapshot } from '../../cache/event-cache.options.js';
import type { BridgeOutcome } from '../bridge-outcome.js';
import { cookieNames, parseCookieHeaderShared } from '../request/cookie-header.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';
import { SessionCookieVerifier } from './signed-session-cookie.js';

/**
 * Keeps the fast-auth snapshots in the event cache up to date after a bridged event that ran the auth chain:
 * a logout (the user went away, or the session id changed) drops the old session's snapshot; otherwise the
 * current one is written, with fast auth on, for a session that has a cookie: before the response ends when the
 * request presented it (so the next event finds it at once), after the end when the session middleware has just
 * set it. Snapshots serve fast auth only, and fast auth finds them through the session cookie: an event without
 * one (anonymous, no session saved) writes nothing, and neither does one under a session id no cookie names.
 *
 * A cookie naming a session the store no longer has (it ended: a logout in another tab, a deletion in the store)
 * makes the session middleware start a new, unsaved session under a random id that no cookie will present. Such
 * an event's anonymous snapshot goes under the cookie's own session id instead, so the tab's next events are
 * answered by fast auth as anonymous without reading the store; under the random id it would be one key per
 * event that nobody reads. When the response hands the tab a new session cookie instead (the session was saved),
 * the snapshot goes under the new id, which the tab presents from then on.
 */
@Injectable()
export class SnapshotWriter {
  /** Whether snapshots are written at all: fast auth on and the cache enabled. */
  private readonly writes: boolean;
  /** Reads the session id the request's signed cookie names, as fast auth does. */
  private readonly verifier?: SessionCookieVerifier;
  private readonly logger = new Logger('ReflexBridge');
  /** The kinds of unusable user id warned about already (a handful at most: one per JavaScript type or class). */
  private readonly warnedIdKinds = new Set<string>();

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly cache: EventCacheService,
  ) {
    this.writes = options.fastAuth !== undefined && cache.enabled;
    if (options.fastAuth) this.verifier = new SessionCookieVerifier(options.fastAuth.sessionSecrets);
  }

  /**
   * Before the auth chain runs: notes how many snapshots had been dropped, so that the ones written at the end
   * are skipped if a session ended while the event ran (a logout in another tab, say): the user the chain loaded
   * may be that session's. (When the session is read, which a snapshot is as old as, the tier guard notes as its
   * middleware starts: an event answered by fast auth or on `none` never asks the clock.)
   */
  begin(outcome: BridgeOutcome): void {
    if (this.writes) outcome.cacheReadAt = this.cache.dropCount;
  }

  /**
   * Before the response ends: a logout drops the old session's snapshot, and a session whose cookie the request
   * presented gets its snapshot written. Synchronous with the in-memory cache.
   */
  beforeEnd(outcome: BridgeOutcome): MaybePromise<void> {
    const request = outcome.request;
    if (!request || !this.cache.enabled) return;
    const sessionId = sessionIdOf(request);
    const before = outcome.sessionIdBefore;
    const loggedOut = before !== undefined && before !== '' && (before !== sessionId || (outcome.hadUser === true && request.user === undefined));
    // Snapshots only serve fast auth: without it, keep the cache out of the event path.
    const snapshot = sessionId && this.wanted(outcome) && this.presentedCookie(outcome) ? this.snapshotOf(request) : undefined;
    // After the event's own logout, the snapshot is of the session the event itself started (a login, a regenerate).
    if (loggedOut) return this.cache.invalidate(before, 'logout').then(() => (snapshot ? this.cache.put(sessionId!, snapshot) : undefined));
    // The cookie names a session the store does not have: where the snapshot goes is known once the response
    // ended (whether it hands the tab a new cookie), see afterEnd.
    if (snapshot && this.cookieSessionId(outcome) !== sessionId) return;
    return snapshot ? this.cache.put(sessionId!, snapshot, outcome.cacheReadAt, outcome.sessionReadAtMs) : undefined;
  }

  /**
   * Once the response ended: a session that arrived without a cookie gets its snapshot only when the session
   * middleware set the cookie (a login, a new session it saved); an anonymous event without one writes nothing.
   */
  afterEnd(outcome: BridgeOutcome): MaybePromise<void> {
    const request = outcome.request;
    if (!request || !this.cache.enabled || !this.wanted(outcome)) return;
    const sessionId = sessionIdOf(request);
    const snapshot = sessionId ? this.snapshotOf(request) : undefined;
    if (!snapshot) return;
    if (this.presentedCookie(outcome)) return this.afterEndWithCookie(outcome, sessionId!, snapshot);
    return this.setCookie(outcome) ? this.cache.put(sessionId!, snapshot, outcome.cacheReadAt, outcome.sessionReadAtMs) : undefined;
  }

  /**
   * {@link SnapshotWriter.afterEnd} for a request that presented the session cookie: only one whose cookie names
   * a session the store does not have is left to write (beforeEnd wrote the others). The new session's snapshot
   * when the response sets its cookie; else an anonymous one under the cookie's id, which the tab keeps
   * presenting. Neither after the event's own logout (beforeEnd wrote that), nor for a user the chain found
   * without that session (no session backs it: the next event runs the middleware again).
   */
  private afterEndWithCookie(outcome: BridgeOutcome, sessionId: string, snapshot: AuthSnapshot): MaybePromise<void> {
    if (outcome.sessionIdBefore !== sessionId) return;
    const cookieSessionId = this.cookieSessionId(outcome);
    if (cookieSessionId === sessionId) return;
    if (this.setCookie(outcome)) return this.cache.put(sessionId, snapshot, outcome.cacheReadAt, outcome.sessionReadAtMs);
    if (cookieSessionId === undefined || snapshot.isAuthenticated) return;
    return this.cache.put(cookieSessionId, snapshot, outcome.cacheReadAt, outcome.sessionReadAtMs);
  }

  /**
   * The snapshot to keep for a request's user; undefined for a user without an id, whom fast auth could not rebuild,
   * and for one whose id is not a string or a finite number.
   */
  snapshotOf(request: SyntheticRequest): AuthSnapshot | undefined {
    const user = request.user as Record<string, unknown> | undefined;
    if (!user) return { userId: null, isAuthenticated: user !== undefined };
    const userId: unknown = this.options.fastAuth?.userIdOf?.(user) ?? user.id;
    if (userId === undefined) return undefined;
    // Only what comes back from a JSON round trip (a shared cache, Redis) as the same value: otherwise fast auth would
    // load another user than the middleware did (a Date comes back as a string; NaN, Infinity and null as null, which
    // is anonymous), or every write would fail as if the cache were down (a bigint does not serialise).
    if (typeof userId === 'string' || (typeof userId === 'number' && Number.isFinite(userId))) return { userId, isAuthenticated: true };
    this.warnUnstorableId(userId);
    return undefined;
  }

  /** Says once per kind of id why its users get no snapshot (so every event of theirs runs the middleware). */
  private warnUnstorableId(userId: unknown): void {
    const kind = userId === null ? 'null' : typeof userId === 'object' ? (Object.getPrototypeOf(userId)?.constructor?.name ?? 'object') : typeof userId;
    if (this.warnedIdKinds.has(kind) || this.warnedIdKinds.size >= 16) return;
    this.warnedIdKinds.add(kind);
    this.logger.warn(
      `fastAuth: a user's id is ${/^[aeiou]/i.test(kind) ? 'an' : 'a'} ${kind}, not a string or a finite number, so that user gets no fast-auth snapshot and every auth_only event of theirs runs the session and auth middleware. Give fastAuth.userIdOf a function that returns the id as a string or a number.`,
    );
  }

  /** Fast auth is on and did not answer this event (its snapshot is fresh already). */
  private wanted(outcome: BridgeOutcome): boolean {
    return this.options.fastAuth !== undefined && !outcome.fastPath;
  }

  /** The request arrived with the session cookie. */
  private presentedCookie(outcome: BridgeOutcome): boolean {
    return parseCookieHeaderShared(outcome.cookieHeader)[this.options.fastAuth!.sessionCookieName] !== undefined;
  }

  /** The session id the request's session cookie names, when its signature checks out. */
  private cookieSessionId(outcome: BridgeOutcome): string | undefined {
    return this.verifier?.unsign(parseCookieHeaderShared(outcome.cookieHeader)[this.options.fastAuth!.sessionCookieName]);
  }

  /** The response sets the session cookie. */
  private setCookie(outcome: BridgeOutcome): boolean {
    const setCookies = outcome.response?.setCookies();
    return setCookies !== undefined && setCookies.length > 0 && cookieNames(setCookies).includes(this.options.fastAuth!.sessionCookieName);
  }
}

/** The request's session id; undefined when there is none, or reading it throws. */
function sessionIdOf(request: SyntheticRequest): string | undefined {
  try {
    return request.sessionID;
  } catch {
    return undefined;
  }
}

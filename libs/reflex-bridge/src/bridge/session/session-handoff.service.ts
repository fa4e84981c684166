import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { EventClient } from '../../common/event-client.js';
import { isPromise, then, type MaybePromise } from '../../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { SessionEndings } from '../../common/session-endings.js';
import { SessionSightings } from '../../common/session-sightings.js';
import { SessionStoreObserver } from '../../common/session-store-observer.js';
import type { BridgeOutcome } from '../bridge-outcome.js';
import { CookieHandoffService } from './cookie-handoff.service.js';
import { cookieHandoffEvent, type HandoffOrigin } from './cookie-handoff.event.js';
import { cookieNames, mergeSetCookies } from '../request/cookie-header.js';
import { runMiddleware } from '../request/middleware-runner.js';
import { RequestBuilder } from '../request/request-builder.service.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';
import { SyntheticResponse } from '../request/synthetic-response.js';
import { EventRateLimiter } from '../../security/event-rate-limiter.service.js';
import { addressKey } from '../../security/client-address.js';
import { BridgeError } from '../../protocol/bridge-error.js';
import { DeadlineQueue, type DeadlineEntry } from '../../common/deadline-queue.js';

/**
 * The name of the frontend event earlier versions sent for a cookie handoff (payload `{ url, secret }`).
 * @deprecated No longer sent: Reflex's client does not know it and sent it back. The handoff now arrives as a
 * `_call_function` event whose payload carries `{ url, secret }` under `SESSION_COOKIE_PAYLOAD_KEY`
 * (`bridge_session_cookie`); `@reflex-bridge/client` still understands both.
 * @publicApi
 */
export const SESSION_COOKIE_EVENT = '_bridge_session_cookie';

/** The last entry of a proxy header (`X-Forwarded-Host: a, b`): what the nearest proxy set. */
function lastEntry(value: string | undefined): string | undefined {
  const entry = value?.split(',').at(-1)?.trim();
  return entry ? entry : undefined;
}

/**
 * The session side of bridged events: reports which session each socket is in ({@link SessionSightings}),
 * has logouts on bridged requests observed, ends the synthetic response so the session middleware saves the
 * session, and hands a changed session cookie back to the browser over HTTP (within `rateLimit.cookieHandoffs`
 * per client address).
 */
/** The `event` a refused cookie handoff's `rate_limited` error names: no handler of the app's, the handoff itself. */
const COOKIE_HANDOFF_REFUSED = 'cookie_handoff';

@Injectable()
export class SessionHandoff implements OnModuleDestroy {
  /**
   * `bridge.middlewareTimeoutMs` for the middleware chains the bridge runs and the session saves it waits for: a
   * session store that stops answering must not hold a client's events for ever. One timer for them all.
   */
  readonly middlewareDeadlines: DeadlineQueue;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly handoffs: CookieHandoffService,
    private readonly requests: RequestBuilder,
    private readonly sightings: SessionSightings,
    private readonly storeObserver: SessionStoreObserver,
    private readonly rateLimiter: EventRateLimiter,
    private readonly endings: SessionEndings,
  ) {
    this.middlewareDeadlines = new DeadlineQueue(options.bridge.middlewareTimeoutMs);
  }

  onModuleDestroy(): void {
    this.middlewareDeadlines.close();
  }

  /** Before the auth chain reads the event's session: see {@link finish}. */
  begin(outcome: BridgeOutcome): void {
    outcome.sessionEndsReadAt = this.endings.mark();
  }

  /** After the auth middleware ran on a bridged request: its session store is observed, so a logout in the handler is noticed. */
  watchLogout(request: SyntheticRequest): void {
    this.storeObserver.observe(request.sessionStore);
  }

  /**
   * Runs the session and auth middleware for a socket outside any event (at connect, and to re-authenticate
   * it after its session ended), so the bridge learns its session. Nothing is saved: the response is never
   * ended. Returns the request, or undefined when no auth middleware is configured.
   */
  async authenticate(client: EventClient): Promise<SyntheticRequest | undefined> {
    const chain = this.options.bridge.authMiddleware ?? [];
    if (chain.length === 0) return undefined;
    const { request } = this.requests.build(client, '/', {}, this.requests.clientIp(client));
    await runMiddleware(chain, request, new SyntheticResponse(), this.middlewareDeadlines);
    this.sightings.seen(client, request.sessionID, request.sessionStore);
    return request;
  }

  /**
   * Ends the synthetic response (so session middleware saves the session and writes its cookie) and, when
   * the session cookie changed (login, logout, regeneration), moves the new cookie to this socket's later
   * events and sends the client a single-use token to fetch the `Set-Cookie` over HTTP. `afterEnd` runs once
   * the response has ended, before the handoff (the snapshot write for a cookie the middleware just set).
   */
  finish(outcome: BridgeOutcome, response: SyntheticResponse, client: EventClient, afterEnd: (outcome: BridgeOutcome) => MaybePromise<void>): MaybePromise<void> {
    if (outcome.request && !outcome.fastPath) this.sightings.seen(client, outcome.request.sessionID, outcome.request.sessionStore);
    if (!response.finished) {
      if (outcome.request && outcome.sessionEndsReadAt !== undefined) this.forgetEndedSession(outcome.request, outcome.sessionEndsReadAt);
      // Usually the end is synchronous (nothing to save, or no session middleware on the fast path); only
      // a session middleware that saves first (express-session's wrapped `end`) makes this wait. Its
      // `whenFinished` callbacks run when it becomes finished, so waiting after `end()` misses nothing.
      response.end();
      if (!response.finished) {
        return new Promise<void>((resolve, reject) => {
          // Bounded like the chain that read the session: a session store that stops answering would otherwise hold
          // the event, and every later event of its tab, until it answers. A save that lands later writes no
          // snapshot and hands no cookie off: the client was told its session change may be lost.
          const deadline: DeadlineEntry = {
            deadline: 0,
            settled: false,
            expire: () => {
              response.cancelWhenFinished(onFinished);
              reject(new BridgeError('session_unavailable', `The session could not be saved within ${this.middlewareDeadlines.timeoutMs} ms; the event's change to the page stands, its change to the session may be lost. Try again.`));
            },
          };
          const onFinished = () => {
            deadline.settled = true;
            try {
              resolve(then(afterEnd(outcome), () => this.handOffCookies(outcome, response, client)));
            } catch (error) {
              reject(error as Error);
            }
          };
          this.middlewareDeadlines.track(deadline);
          response.whenFinished(onFinished);
        });
      }
    }
    const ended = afterEnd(outcome);
    if (isPromise(ended)) return ended.then(() => this.handOffCookies(outcome, response, client));
    return this.handOffCookies(outcome, response, client);
  }

  /**
   * For a real HTTP request the tier ran on (an upload, whose handler may run for minutes): its session is not saved
   * when the response ends if it ended since {@link begin}, as {@link finish} does for an event. express-session saves
   * in its own wrapper of `end`; this one, installed after it, runs first.
   */
  keepEndedSessionUnsaved(outcome: BridgeOutcome, response: ServerResponse): void {
    const request = outcome.request;
    const readAt = outcome.sessionEndsReadAt;
    if (!request || readAt === undefined) return;
    const end = response.end;
    response.end = ((...args: Parameters<ServerResponse['end']>) => {
      this.forgetEndedSession(request, readAt);
      return end.apply(response, args);
    }) as ServerResponse['end'];
  }

  /**
   * The event's session ended while it ran (a logout in another tab, over HTTP or on another worker): the request's
   * copy of it, user included, is not saved. Saved, it put the ended session back into the store: the logout was
   * undone for every cookie of that session (this tab's, re-authenticated as the user again; one left on a shared
   * computer), and whatever the handler wrote to it was kept for nobody. Unset, express-session neither saves it nor
   * sets its cookie (its `unset: 'keep'`, the default; with `unset: 'destroy'` it destroys what is gone already).
   * A session the event itself moved to a new id (a login, a regeneration) is saved as ever. A session that may be
   * saved is noted in `RecentSessionSaves` (through the store observer): an end on another worker whose news arrives after the save has it
   * destroyed again.
   */
  private forgetEndedSession(request: SyntheticRequest, readAt: number): void {
    let sessionId: unknown;
    try {
      sessionId = request.sessionID;
    } catch {
      return;
    }
    if (typeof sessionId === 'string' && this.endings.endedSince(sessionId, readAt)) request.session = undefined;
    // Its store is watched before the save: a save there is noted in RecentSessionSaves as it starts, the app's
    // routes' included (an upload on a worker that has run no event of that store yet).
    else this.storeObserver.observe(request.sessionStore);
  }

  /** When the response changed the socket's cookies: keeps them for its later events and starts the handoff. */
  private handOffCookies(outcome: BridgeOutcome, response: SyntheticResponse, client: EventClient): MaybePromise<void> {
    const setCookies = response.setCookies();
    if (setCookies.length === 0) return;
    const before = outcome.cookieHeader ?? '';
    const after = mergeSetCookies(before, setCookies);
    if (after === before) return;
    this.requests.useCookieHeader(client, after);
    const presented = outcome.request?.cookies ?? {};
    const expected: Record<string, string | undefined> = {};
    for (const name of cookieNames(setCookies)) expected[name] = presented[name];
    // Counted per address before anything is parked: a client making new sessions as fast as its events go
    // would fill the handoff store, where other users' logins wait for their tabs.
    const ip = this.requests.clientIp(client);
    return then(this.rateLimiter.checkCookieHandoff(ip), (waitMs) => {
      if (waitMs > 0) {
        const retryAfterMs = Math.max(1, Math.ceil(waitMs));
        outcome.handoffRefusal = {
          code: 'rate_limited',
          message: `Too many session changes from your address: this one was not handed to your browser. Try again in ${Math.ceil(retryAfterMs / 1000)} s.`,
          event: COOKIE_HANDOFF_REFUSED,
          retryAfterMs,
        };
        return;
      }
      // The secret travels over this socket only; the tab sends it back in a header with its token.
      const address = addressKey(ip, this.options.rateLimit.ipv6SubnetPrefix);
      return this.handoffs.issue(setCookies, expected, client.token ?? '', address).then(({ id, secret }) => {
        client.emitUpdate({ events: [cookieHandoffEvent(`${this.options.cookieHandoffPath}/${id}`, secret, this.originOf(client))] });
      });
    });
  }

  /** Where the browser reached this server: the handshake's host (and, behind a trusted proxy, its scheme). */
  private originOf(client: EventClient): HandoffOrigin {
    const headers = client.headers;
    const trusted = this.options.bridge.trustProxy === true;
    const forwardedHost = trusted ? lastEntry(headers['x-forwarded-host']) : undefined;
    const forwardedProto = trusted ? lastEntry(headers['x-forwarded-proto'])?.toLowerCase() : undefined;
    return { host: forwardedHost ?? headers.host, scheme: forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : undefined };
  }
}

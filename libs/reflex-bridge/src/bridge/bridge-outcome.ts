import type { ClientEvent } from '../protocol/client-event.js';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { EventTimer } from '../metrics/event-timer.js';
import type { BridgeTier } from './tiers/bridge-tier.js';
import type { SyntheticRequest } from './request/synthetic-request.js';
import type { SyntheticResponse } from './request/synthetic-response.js';

/**
 * What running an event's tier left for the rest of the event: the tier, and on bridged tiers the synthetic
 * request and response. The pipeline reads it after the tier guards, and hands it back to the bridge for the
 * handler call, each step, and the end of the event.
 * @publicApi
 */
export interface BridgeOutcome {
  tier: BridgeTier;
  request?: SyntheticRequest;
  response?: SyntheticResponse;
  /** Set when a middleware answered with a redirect: the event stops and the client navigates. */
  redirect?: ClientEvent;
  /** The cookie header the request was built with (to tell later whether the session cookie changed). */
  cookieHeader?: string;
  /** True when fast auth answered instead of the middleware. */
  fastPath?: boolean;
  /**
   * The event cache's count of dropped snapshots before the auth chain loaded the session: the snapshot written
   * at the end is skipped when a session ended meanwhile (see `EventCacheService.dropCount`).
   */
  cacheReadAt?: number;
  /** When the auth chain began reading the session (`Date.now()`): the snapshot written at the end expires a TTL from then. */
  sessionReadAtMs?: number;
  /**
   * The session endings' mark before the auth chain read the session (see `SessionEndings.mark`): a session that
   * ended after it (a logout in another tab while the event ran) is not saved back into the store at the end.
   */
  sessionEndsReadAt?: number;
  /**
   * Set when the event changed the session cookie but the handoff to the browser was refused (too many from its
   * address): the pipeline sends it to the client, and shows it, once the event ended.
   */
  handoffRefusal?: BridgeErrorPayload;
  /** The session id and user presence right after the auth chain, to notice logouts. */
  sessionIdBefore?: string;
  hadUser?: boolean;
  /**
   * True when the handler's Nest guards already ran (an upload's, before its body was read): the handler call
   * then runs its interceptors and filters only.
   */
  guardsChecked?: boolean;
  /** Per-phase timing, when metrics are on. */
  timer?: EventTimer;
}

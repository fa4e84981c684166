import { ConnectionLifecycle } from '../../common/connection-lifecycle.js';
import { Inject, Injectable } from '@nestjs/common';
import type { EventClient } from '../../common/event-client.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { EventCacheService } from '../../cache/event-cache.service.js';
import { FastAuthRequest } from '../session/fast-auth.js';
import { clientIp } from '../../security/client-address.js';
import { splitPathname } from './router-path.js';
import { SyntheticRequest } from './synthetic-request.js';
import { SyntheticResponse } from './synthetic-response.js';
import type { RequestSource, TierExecutionContext } from '../tiers/tier-execution-context.js';


/**
 * Builds the synthetic request of a bridged event from its socket and its router data, and keeps each
 * socket's current cookie header: the handshake's, until an event changes the session (see the cookie
 * handoff), after which that socket's later events present the new cookies.
 */
@Injectable()
export class RequestBuilder implements RequestSource {
  /** The cookie header each socket presents now, when an event changed it from the handshake's. */
  private readonly cookieHeaders = new WeakMap<EventClient, string>();
  /** Fast auth can answer `auth_only` events: their requests carry the lazy session (see FastAuthRequest). */
  private readonly fastAuthOn: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    cache: EventCacheService,
    connections: ConnectionLifecycle,
  ) {
    connections.onClosed((client) => this.forget(client));
    this.fastAuthOn = Boolean(options.fastAuth) && cache.enabled;
  }

  /** Gives a bridged event its synthetic request and response (called by the context on first use). */
  bind(event: TierExecutionContext): void {
    const { routerData } = event;
    const pathname = typeof routerData.pathname === 'string' ? routerData.pathname : '/';
    const { request, cookieHeader } = this.build(event.client, pathname, routerData.query ?? {}, routerData.ip, event.tier === 'auth_only' && this.fastAuthOn);
    event.request = request;
    event.cookieHeader = cookieHeader;
    event.response = new SyntheticResponse();
  }

  /**
   * The synthetic request for a socket: its handshake headers with its current cookie header, for the page
   * `pathname` (split into path and query, see {@link splitPathname}).
   */
  build(client: EventClient, pathname: string, query: Record<string, unknown>, ip: string, fastAuth = false): { request: SyntheticRequest; cookieHeader: string } {
    const cookieHeader = this.cookieHeaderOf(client);
    // A copy per request (about 0.1 µs): middleware may change `req.headers`, and must not change the socket's.
    const headers = { ...client.headers };
    if (cookieHeader) headers.cookie = cookieHeader;
    else delete headers.cookie;
    const page = splitPathname(pathname, query);
    const init = {
      path: page.path,
      query: page.query,
      headers,
      ip,
      remoteAddress: client.remoteAddress,
      secure: this.options.bridge.trustProxy === true && headers['x-forwarded-proto'] === 'https',
    };
    // A request that may take the fast path carries the lazy session (see FastAuthRequest).
    const request = fastAuth ? new FastAuthRequest(init) : new SyntheticRequest(init);
    return { request, cookieHeader };
  }

  /** The client IP of a socket's events (see {@link clientIp}). */
  clientIp(client: EventClient): string {
    return clientIp(client.headers['x-forwarded-for'], client.remoteAddress, this.options.bridge.trustProxy === true);
  }

  /** The cookie header a socket presents now. */
  cookieHeaderOf(client: EventClient): string {
    return this.cookieHeaders.get(client) ?? client.headers.cookie ?? '';
  }

  /** Makes a socket's later events present `cookieHeader` (after an event changed its session cookie). */
  useCookieHeader(client: EventClient, cookieHeader: string): void {
    this.cookieHeaders.set(client, cookieHeader);
  }

  /** Forgets what was kept for a socket (its updated cookie header). */
  forget(client: EventClient): void {
    this.cookieHeaders.delete(client);
  }
}

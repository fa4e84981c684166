import { EventEmitter } from 'node:events';
import { parseCookieHeaderShared } from './cookie-header.js';

/** Inputs for one event's {@link SyntheticRequest}. */
export interface SyntheticRequestInit {
  /** The page path and query the user is on (from `router_data`). */
  path: string;
  query: Record<string, unknown>;
  /** Handshake headers, with the socket's current cookie header. */
  headers: Record<string, string>;
  ip: string;
  remoteAddress: string;
  secure: boolean;
}

/**
 * The request an event is bridged through: shaped like an Express request so session, passport and other
 * middleware, and Nest HTTP guards (`switchToHttp().getRequest()`), work unchanged. Method `GET`, URL from
 * the page the user is on, headers and cookies from the socket handshake.
 * @publicApi
 */
export class SyntheticRequest extends EventEmitter {
  readonly method = 'GET';
  url: string;
  originalUrl: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string>;
  /** Parsed from the cookie header (memoised per header string); the request's own copy, which middleware may change. */
  readonly cookies: Record<string, string>;
  readonly ip: string;
  readonly ips: string[];
  readonly secure: boolean;
  readonly protocol: string;
  readonly socket: { remoteAddress: string; encrypted: boolean };
  readonly connection: { remoteAddress: string; encrypted: boolean };
  readonly httpVersion = '1.1';
  readonly params: Record<string, string> = {};
  body: Record<string, unknown> = {};
  /** Set by authentication middleware (passport). */
  user?: unknown;
  /** Set by session middleware (express-session). */
  session?: Record<string, unknown> & { id?: string };
  sessionID?: string;
  /** The Express app, for middleware that reads `req.app`; absent on synthetic requests. */
  readonly app = undefined;
  /** True on every bridged request, so app middleware can tell events from page loads. */
  readonly isReflexEvent = true;
  [key: string]: unknown;

  constructor(init: SyntheticRequestInit) {
    super();
    const queryString = queryStringOf(init.query);
    this.path = init.path.startsWith('/') ? init.path : `/${init.path}`;
    this.url = queryString ? `${this.path}?${queryString}` : this.path;
    this.originalUrl = this.url;
    this.query = init.query;
    this.headers = init.headers;
    this.cookies = { ...parseCookieHeaderShared(init.headers.cookie) };
    this.ip = init.ip;
    this.ips = [init.ip];
    this.secure = init.secure;
    this.protocol = init.secure ? 'https' : 'http';
    this.socket = { remoteAddress: init.remoteAddress, encrypted: init.secure };
    this.connection = this.socket;
  }

  /** Express's `req.get(name)`: a header by case-insensitive name. */
  get(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  /** Alias of {@link SyntheticRequest.get}. */
  header(name: string): string | undefined {
    return this.get(name);
  }
}

/** The query string of `query` (`a=1&b=2`, arrays repeated, null and undefined left out), or `''`. */
function queryStringOf(query: Record<string, unknown>): string {
  let search: URLSearchParams | undefined;
  for (const key in query) {
    if (!Object.prototype.hasOwnProperty.call(query, key)) continue;
    const value = query[key];
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null) (search ??= new URLSearchParams()).append(key, String(item));
    }
  }
  return search ? search.toString() : '';
}

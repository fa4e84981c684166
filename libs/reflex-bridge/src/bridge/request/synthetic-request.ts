import { LazyEventEmitter } from './lazy-event-emitter.js';
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

/** Where a request keeps the peer address, for its `socket`, made on first read (see {@link SyntheticRequest}). */
const REMOTE_ADDRESS = Symbol('reflex-bridge:remote-address');

/**
 * The request an event is bridged through: shaped like an Express request so session, passport and other
 * middleware, and Nest HTTP guards (`switchToHttp().getRequest()`), work unchanged. Method `GET`, URL from
 * the page the user is on, headers and cookies from the socket handshake.
 *
 * Built for every bridged event, so it makes little up front: its emitter state is made on its first listener
 * (it is an `EventEmitter`, and `instanceof` holds), and `cookies`, `ips`, `socket`, `connection`, `params` and
 * `body` on their first read. Assigning any of them works as on any request.
 * @publicApi
 */
export class SyntheticRequest extends LazyEventEmitter {
  /** Always `GET`. */
  declare readonly method: string;
  url: string;
  originalUrl: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string>;
  /** Parsed from the cookie header (memoised per header string); the request's own copy, which middleware may change. */
  declare readonly cookies: Record<string, string>;
  readonly ip: string;
  declare readonly ips: string[];
  readonly secure: boolean;
  readonly protocol: string;
  declare readonly socket: { remoteAddress: string; encrypted: boolean };
  /** The same object as {@link SyntheticRequest.socket}. */
  declare readonly connection: { remoteAddress: string; encrypted: boolean };
  /** Always `1.1`. */
  declare readonly httpVersion: string;
  declare readonly params: Record<string, string>;
  declare body: Record<string, unknown>;
  /** Set by authentication middleware (passport). */
  user?: unknown;
  /** Set by session middleware (express-session). */
  session?: Record<string, unknown> & { id?: string };
  sessionID?: string;
  /** The Express app, for middleware that reads `req.app`; absent on synthetic requests. */
  declare readonly app: undefined;
  /** True on every bridged request, so app middleware can tell events from page loads. */
  declare readonly isReflexEvent: true;
  /** @internal The peer address, for `socket` (made on first read). */
  readonly [REMOTE_ADDRESS]: string;
  [key: string]: unknown;

  constructor(init: SyntheticRequestInit) {
    super();
    // The fields made later read the request itself, never `init`: a request keeping its event's init literal made
    // V8 promote every event's objects (about 300 KB per scavenge under fast auth, where 30 KB is usual).
    this[REMOTE_ADDRESS] = init.remoteAddress;
    const queryString = queryStringOf(init.query);
    this.path = init.path.startsWith('/') ? init.path : `/${init.path}`;
    this.url = queryString ? `${this.path}?${queryString}` : this.path;
    this.originalUrl = this.url;
    this.query = init.query;
    this.headers = init.headers;
    this.ip = init.ip;
    this.secure = init.secure;
    this.protocol = init.secure ? 'https' : 'http';
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

/** Makes `name` an ordinary own data property of `request` (as an assignment on an Express request would). */
function ownField(request: SyntheticRequest, name: string, value: unknown): void {
  Object.defineProperty(request, name, { value, writable: true, enumerable: true, configurable: true });
}

/** The same value on every request, kept on the prototype (an assignment makes it the request's own). */
function sharedField(name: string, value: unknown): void {
  Object.defineProperty(SyntheticRequest.prototype, name, {
    configurable: true,
    enumerable: false,
    get: () => value,
    set(this: SyntheticRequest, assigned: unknown) {
      ownField(this, name, assigned);
    },
  });
}

/** A field made from the request on first read, then kept as the request's own. */
function lazyField(name: string, make: (request: SyntheticRequest) => unknown): void {
  Object.defineProperty(SyntheticRequest.prototype, name, {
    configurable: true,
    enumerable: false,
    get(this: SyntheticRequest) {
      const value = make(this);
      ownField(this, name, value);
      return value;
    },
    set(this: SyntheticRequest, assigned: unknown) {
      ownField(this, name, assigned);
    },
  });
}

sharedField('method', 'GET');
sharedField('httpVersion', '1.1');
sharedField('app', undefined);
sharedField('isReflexEvent', true);
lazyField('cookies', (request) => ({ ...parseCookieHeaderShared(request.headers.cookie) }));
lazyField('ips', (request) => [request.ip]);
lazyField('socket', (request) => {
  const socket = { remoteAddress: request[REMOTE_ADDRESS], encrypted: request.secure };
  // One object for both names, whichever is read first (unless the other was assigned already).
  if (!Object.prototype.hasOwnProperty.call(request, 'connection')) ownField(request, 'connection', socket);
  return socket;
});
lazyField('connection', (request) => request.socket);
lazyField('params', () => ({}));
lazyField('body', () => ({}));

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

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';
import { knownOptions } from '../common/connection-options.js';
import { logText } from '../common/log-text.js';

/** What {@link OriginPolicy} reads from a request: its headers, and whether Node itself terminated TLS. */
export interface OriginCheckedRequest {
  headers: IncomingHttpHeaders;
  /** The connection; a `TLSSocket` (`encrypted: true`) when Node terminates TLS. */
  socket?: unknown;
}

/** The verdict of {@link OriginPolicy.check}. */
export type OriginVerdict =
  | { allowed: true }
  | {
      allowed: false;
      /** The `Origin` header as sent, or `Sec-Fetch-Site: <value>` when the browser sent no `Origin`. */
      origin: string;
      /** The request's own origin as the server computed it (scheme, host and port), when it could. */
      ownOrigin: string | undefined;
    };

/** Settings of an {@link OriginPolicy}. */
export interface OriginPolicyOptions {
  /**
   * Other origins allowed besides the request's own (`https://app.example.com`, `http://localhost:3000`), or
   * `true` to allow every origin. `undefined` / `false`: the request's own origin only.
   */
  allowedOrigins?: readonly string[] | boolean;
  /**
   * Behind a proxy you control: the request's own scheme and host come from the last `X-Forwarded-Proto` /
   * `X-Forwarded-Host` entries (what the proxy added) instead of the connection and `Host`.
   * @default false
   */
  trustProxy?: boolean;
}

/** The keys of {@link OriginPolicyOptions}: any other is refused. */
const ORIGIN_POLICY_OPTIONS: readonly (keyof OriginPolicyOptions)[] = ['allowedOrigins', 'trustProxy'];

/** The Engine.IO `allowRequest` callback shape. */
type AllowRequestCallback = (error: string | null | undefined, success: boolean) => void;

/** How many distinct refused origins are logged (one line each); later ones are counted silently. */
const LOGGED_ORIGINS_MAX = 100;
/** Longest origin text put in a log line: the header is the sender's, so it is bounded and quoted. */
const LOGGED_ORIGIN_CHARS = 200;

/** What a refused request is told; it never echoes the sender's `Origin`. @publicApi */
export const ORIGIN_NOT_ALLOWED_MESSAGE = 'origin_not_allowed: requests from this origin are not allowed here.';

/** The last entry of a proxy header such as `X-Forwarded-Proto: https, http`: what the nearest proxy set. */
function lastEntry(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.at(-1) : value;
  const entry = text?.split(',').at(-1)?.trim();
  return entry ? entry : undefined;
}

/** `scheme://host[:port]` as `URL` normalises it (lower-case host, default port dropped), or undefined. */
function normaliseOrigin(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Decides whether a browser request may act with the user's cookies: the WebSocket handshake of the event
 * channel, the session cookie handoff, and the app's own state-changing HTTP routes through
 * {@link SameOriginMiddleware}.
 *
 * Browsers attach cookies to requests that other sites start (a WebSocket opened by any page, a form posted from
 * any page), and CORS does not stop either. What the browser does tell the server, and what a page cannot forge,
 * is where the request comes from: `Origin` (always sent on WebSocket handshakes and on POSTs) and
 * `Sec-Fetch-Site`. So:
 *
 * - `Origin` present: allowed when it equals the request's own origin (scheme, host and port; `Sec-Fetch-Site`
 *   must then not say `cross-site`) or an allowed origin; `Origin: null` (sandboxed frames, cross-site redirects)
 *   only when every origin is allowed.
 * - no `Origin` but `Sec-Fetch-Site`: only `same-origin` and `none` (typed by the user) pass, since the sending
 *   origin is unknown.
 * - neither: not a browser (curl, a Node client, a server-to-server call). Allowed: such a client holds no
 *   victim's cookies, and it can forge any header anyway.
 *
 * The request's own origin is its scheme (TLS on the connection, or with `trustProxy` the last
 * `X-Forwarded-Proto`) and its `Host` (with `trustProxy`, the last `X-Forwarded-Host` when the proxy sends one).
 *
 * Refusals are logged once per origin, for at most {@link LOGGED_ORIGINS_MAX} origins per process.
 * @publicApi
 */
export class OriginPolicy {
  private readonly logger = new Logger('ReflexBridge');
  private readonly allowAny: boolean;
  private readonly allowed: ReadonlySet<string>;
  private readonly trustProxy: boolean;
  private readonly logged = new Set<string>();
  private unlogged = 0;

  /** @param options see {@link OriginPolicyOptions}. */
  constructor(options: OriginPolicyOptions = {}) {
    knownOptions('OriginPolicy', options, ORIGIN_POLICY_OPTIONS);
    this.allowAny = options.allowedOrigins === true;
    const list = Array.isArray(options.allowedOrigins) ? (options.allowedOrigins as readonly string[]) : [];
    const allowed = new Set<string>();
    for (const entry of list) {
      const origin = normaliseOrigin(entry);
      if (origin === undefined) throw new TypeError(`OriginPolicy: ${JSON.stringify(entry)} is not an origin such as "https://app.example.com"`);
      allowed.add(origin);
    }
    this.allowed = allowed;
    this.trustProxy = options.trustProxy === true;
  }

  /** Whether every origin is allowed (`corsOrigins: true`). */
  get allowsAnyOrigin(): boolean {
    return this.allowAny;
  }

  /** Whether `origin` (an `Origin` header value) is allowed explicitly: every origin, or one of the list. */
  isListed(origin: string): boolean {
    if (this.allowAny) return true;
    const normalised = normaliseOrigin(origin);
    return normalised !== undefined && this.allowed.has(normalised);
  }

  /** The request's own origin (`http://shop.example:8080`) as this policy computes it, or undefined without a usable host. */
  ownOrigin(request: OriginCheckedRequest): string | undefined {
    const headers = request.headers;
    const forwardedProto = this.trustProxy ? lastEntry(headers['x-forwarded-proto'])?.toLowerCase() : undefined;
    const scheme = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true ? 'https' : 'http';
    const host = (this.trustProxy ? lastEntry(headers['x-forwarded-host']) : undefined) ?? headers.host;
    // A Host carrying anything but host[:port] (a path, credentials) is not a host we can be the origin of.
    if (!host || /[/?#@\\\s]/.test(host)) return undefined;
    return normaliseOrigin(`${scheme}://${host}`);
  }

  /** Whether the request may go ahead, and if not, what to log. */
  check(request: OriginCheckedRequest): OriginVerdict {
    if (this.allowAny) return { allowed: true };
    const headers = request.headers;
    const origin = headers.origin;
    const fetchSite = headers['sec-fetch-site'];
    if (typeof origin === 'string') {
      if (origin !== 'null') {
        const normalised = normaliseOrigin(origin);
        if (normalised !== undefined) {
          if (this.allowed.has(normalised)) return { allowed: true };
          const own = this.ownOrigin(request);
          if (normalised === own && fetchSite !== 'cross-site') return { allowed: true };
          return { allowed: false, origin, ownOrigin: own };
        }
      }
      return { allowed: false, origin, ownOrigin: this.ownOrigin(request) };
    }
    if (typeof fetchSite === 'string' && fetchSite !== 'same-origin' && fetchSite !== 'none') {
      return { allowed: false, origin: `Sec-Fetch-Site: ${fetchSite}`, ownOrigin: this.ownOrigin(request) };
    }
    return { allowed: true };
  }

  /**
   * Engine.IO's `allowRequest` for the event channel: refuses the WebSocket upgrade of a request this policy
   * refuses (the client sees its handshake fail; raw HTTP clients read {@link ORIGIN_NOT_ALLOWED_MESSAGE}).
   */
  readonly allowRequest = (request: IncomingMessage, callback: AllowRequestCallback): void => {
    const verdict = this.check(request);
    if (verdict.allowed) {
      callback(null, true);
      return;
    }
    this.reportRefusal(verdict, 'the event socket');
    callback(ORIGIN_NOT_ALLOWED_MESSAGE, false);
  };

  /** Logs a refusal once per origin (bounded), with a hint when it looks like a proxy or a frontend to list. */
  reportRefusal(verdict: OriginVerdict, what: string): void {
    if (verdict.allowed) return;
    const origin = verdict.origin.slice(0, LOGGED_ORIGIN_CHARS);
    if (this.logged.has(origin)) return;
    if (this.logged.size >= LOGGED_ORIGINS_MAX) {
      // Past the bound, one line says so; the rest are only counted.
      if (this.unlogged++ === 0) this.logger.warn(`Refused requests from more than ${LOGGED_ORIGINS_MAX} origins; further origins are not logged.`);
      return;
    }
    this.logged.add(origin);
    // Escaped by logText, not JSON.stringify: header bytes 0x80-0xff read as C1 controls (NEL, CSI), which it keeps.
    this.logger.warn(`Refused ${what} for origin "${logText(origin, LOGGED_ORIGIN_CHARS)}" (own origin ${verdict.ownOrigin ?? 'unknown'}).${this.hint(verdict)}`);
  }

  private hint(verdict: Extract<OriginVerdict, { allowed: false }>): string {
    const sent = normaliseOrigin(verdict.origin);
    const own = verdict.ownOrigin;
    if (sent && own && new URL(sent).host === new URL(own).host) {
      // The page itself is on plain HTTP while the app is served over HTTPS: no proxy setting would help.
      if (new URL(sent).protocol === 'http:' && new URL(own).protocol === 'https:') {
        return ' Only the scheme differs: the page was loaded over plain HTTP, while the app is served over HTTPS; redirect HTTP to HTTPS.';
      }
      return this.trustProxy
        ? ' Only the scheme differs: does the proxy send X-Forwarded-Proto?'
        : ' Only the scheme differs: behind a TLS proxy, set bridge.trustProxy and have the proxy send X-Forwarded-Proto.';
    }
    return sent ? ' If this is your frontend, add it to corsOrigins.' : '';
  }
}

import type { RouterData } from '../protocol/inbound-event.js';
import { plainRecord } from '../common/plain-record.js';

/**
 * Headers never copied into the `router` var, which page scripts read: the session cookie is HttpOnly, and
 * credentials must not become readable through state. (`headers.cookie` stays in the shape, always `''`.) The client
 * address chain is left out too: proxies write it, and `router.session.client_ip` already says the client's IP as
 * the module trusts it.
 */
const WITHHELD_HEADERS = new Set(['cookie', 'authorization', 'proxy-authorization', 'forwarded', 'x-forwarded-for', 'x-real-ip']);

/**
 * Names that carry credentials by convention, withheld like the cookie: an auth proxy in front of the app adds its
 * user's access token, a signed assertion or its claims (`X-Forwarded-Access-Token`, `Cf-Access-Jwt-Assertion`,
 * AWS ALB's `X-Amzn-Oidc-Accesstoken` and `X-Amzn-Oidc-Data`, Azure's `X-Ms-Client-Principal`), a framework its CSRF
 * token (`X-Csrftoken`), a CDN a shared secret, and none of it may reach page scripts. The words count anywhere in the
 * name, not only as a dash-separated part: `Accesstoken`, `Sessionid` and `Apikey` are spelt as one word. Withholding
 * a harmless header by mistake costs a page nothing it needs (handlers still read every header from the request).
 */
const CREDENTIAL_HEADER = /token|secret|jwt|auth|passw|credential|signature|assertion|session|cookie|api-?key|principal|oidc|csrf|xsrf/;

/** Whether `name` (lower case, as Node gives header names) stays out of the `router` var. */
export function isWithheldHeader(name: string, extra: ReadonlySet<string>): boolean {
  return WITHHELD_HEADERS.has(name) || extra.has(name) || CREDENTIAL_HEADER.test(name);
}

const NONE: ReadonlySet<string> = new Set();

/** At most this many headers go into `headers.raw_headers`; a handshake carrying more is hostile or broken. */
const MAX_HEADERS = 100;
/** Longest header value or URL part copied (characters); longer ones are cut. */
const MAX_TEXT = 8192;

/** What the client sent as a string, cut to {@link MAX_TEXT}; anything else is `''`. */
function text(value: unknown): string {
  if (typeof value !== 'string') return '';
  return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
}

/**
 * Python's `urllib.parse.unquote`: each run of `%XX` escapes is decoded as UTF-8 with replacement characters,
 * and a `%` not followed by two hex digits stays as it is. Never throws (`decodeURIComponent` would).
 */
function unquote(value: string): string {
  if (!value.includes('%')) return value;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  return value.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return decoder.decode(bytes);
  });
}

/** Python's `dict(parse_qsl(query))`, keys sorted as Reflex's frozen dict keeps them: blank values are dropped, the last value of a key wins. */
function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

function queryParameters(query: string): Record<string, string> {
  const pairs: Record<string, string> = Object.create(null);
  for (const part of query.split('&')) {
    const equals = part.indexOf('=');
    if (equals < 0 || equals === part.length - 1) continue;
    pairs[unquote(part.slice(0, equals).replace(/\+/g, ' '))] = unquote(part.slice(equals + 1).replace(/\+/g, ' '));
  }
  const keys = Object.keys(pairs);
  // Most URLs carry no query: a plain empty object, not a prototype-less one (those are dictionaries, 160 bytes
  // each), since every hydrated client keeps its router var.
  if (keys.length === 0) return {};
  const sorted: Record<string, string> = Object.create(null);
  for (const key of keys.sort()) sorted[key] = pairs[key]!;
  return sorted;
}

/** Reflex's serialised `ReflexURL`: Python's `urlsplit` of `url`, its origin, parsed query and the whole URL. */
export function splitReflexUrl(url: string): Record<string, unknown> {
  let rest = url;
  let scheme = '';
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1]!.toLowerCase();
    rest = rest.slice(schemeMatch[0].length);
  }
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, end + 2);
    rest = end < 0 ? '' : rest.slice(end + 2);
  }
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query = '';
  const question = rest.indexOf('?');
  if (question >= 0) {
    query = rest.slice(question + 1);
    rest = rest.slice(0, question);
  }
  return {
    scheme,
    netloc,
    origin: `${scheme}://${netloc}`,
    path: rest,
    query,
    query_parameters: queryParameters(query),
    fragment,
    href: url,
  };
}

/**
 * Reflex's `HeaderData`: the header fields it names, in its order (each the request header whose snake_case name it
 * is, `user-agent` → `user_agent`, or `''`), then every non-empty header (names sorted) as `raw_headers`. Written as
 * one literal so that V8 keeps every field inside the object: each hydrated client keeps one in its state.
 */
function headerData(headers: Readonly<Record<string, unknown>>, withheld: ReadonlySet<string>): Record<string, unknown> {
  const names = Object.keys(headers).filter((name) => text(headers[name]) !== '' && !isWithheldHeader(name, withheld));
  // A plain object filled in sorted order: clients with the same header names share one hidden class, where a
  // prototype-less object would be a dictionary of its own (about 450 bytes) in every hydrated client's state.
  // `__proto__` is the one name a plain object cannot hold as data; it is left out.
  const raw = plainRecord<string>();
  for (const name of names.sort().slice(0, MAX_HEADERS)) if (name !== '__proto__') raw[name] = text(headers[name]);
  return {
    host: text(headers['host']),
    origin: text(headers['origin']),
    upgrade: text(headers['upgrade']),
    connection: text(headers['connection']),
    cookie: '',
    pragma: text(headers['pragma']),
    cache_control: text(headers['cache-control']),
    user_agent: text(headers['user-agent']),
    sec_websocket_version: text(headers['sec-websocket-version']),
    sec_websocket_key: text(headers['sec-websocket-key']),
    sec_websocket_extensions: text(headers['sec-websocket-extensions']),
    accept_encoding: text(headers['accept-encoding']),
    accept_language: text(headers['accept-language']),
    raw_headers: raw,
  };
}

/**
 * The root `router` var sent to the client, as Reflex serialises its `RouterData`: `session`, `headers`, `page`
 * (deprecated in Reflex but still sent), `url` and `route_id`. Hosts and URLs are the frontend's: Reflex takes
 * them from the `Origin` header, so `page.host` is the page's origin, not the backend's `Host`.
 *
 * Deliberate differences: the `cookie`, `authorization` and `proxy-authorization` headers are left out (page
 * scripts read this var; the session cookie is HttpOnly), and long or numerous headers are cut (see
 * {@link MAX_HEADERS}, {@link MAX_TEXT}). Reflex's `frontend_path` prefix is not applied: `raw_path` is the
 * client's `asPath`. Never throws, whatever the client and its headers sent.
 */
export function buildRouterVar(routerData: RouterData, withheld: ReadonlySet<string> = NONE): Record<string, unknown> {
  const headers: Readonly<Record<string, unknown>> = routerData.headers ?? {};
  const origin = text(headers.origin);
  const path = text(routerData.pathname);
  const rawPath = text(routerData.asPath);
  const query = routerData.query;
  const params = query !== null && typeof query === 'object' && !Array.isArray(query) && hasKeys(query) ? query : undefined;
  return {
    session: { client_token: text(routerData.token), client_ip: text(routerData.ip), session_id: text(routerData.sid) },
    headers: headerData(headers, withheld),
    page: params ? pageOf(origin, path, rawPath, params) : sharedPage(origin, path, rawPath),
    url: sharedUrl(origin + rawPath),
    route_id: path,
  };
}

/**
 * Whether `routerVar` (a `router` var {@link buildRouterVar} made) was built for the page and socket `routerData`
 * names: the same path, the same URL as the client wrote it (query and hash included), the same socket. A cheap
 * check that spares building the var again for every event of a page.
 */
export function routerVarShows(routerVar: unknown, routerData: RouterData): boolean {
  if (routerVar === null || typeof routerVar !== 'object') return false;
  const { page, session, route_id: routeId } = routerVar as { page?: { raw_path?: unknown }; session?: { session_id?: unknown }; route_id?: unknown };
  return routeId === text(routerData.pathname) && page?.raw_path === text(routerData.asPath) && session?.session_id === text(routerData.sid);
}

function pageOf(origin: string, path: string, rawPath: string, params: Record<string, unknown>): Record<string, unknown> {
  return { host: origin, path, raw_path: rawPath, full_path: origin + path, full_raw_path: origin + rawPath, params };
}

/**
 * Parts of the `router` var that depend only on the page, shared by every client on that page: each hydrated client
 * keeps its `router` var in its state, and tabs open on the same pages would otherwise each hold equal copies (about
 * 400 bytes). Frozen, so a shared part cannot change under another client: states are copy-on-write, and handlers
 * read copies of vars anyway. The most recent {@link SHARED_PARTS} pages are kept, and only pages of short URLs
 * (a client could otherwise make the cache hold long texts of its own).
 */
const SHARED_PARTS = 512;
const SHARED_KEY_CHARS = 1024;
const sharedPages = new Map<string, Readonly<Record<string, unknown>>>();
const sharedUrls = new Map<string, Readonly<Record<string, unknown>>>();

function remember(cache: Map<string, Readonly<Record<string, unknown>>>, key: string, value: Record<string, unknown>): Readonly<Record<string, unknown>> {
  if (cache.size >= SHARED_PARTS) cache.delete(cache.keys().next().value!);
  for (const name in value) {
    const part = value[name];
    if (typeof part === 'object' && part !== null) Object.freeze(part);
  }
  const frozen = Object.freeze(value);
  cache.set(key, frozen);
  return frozen;
}

/** `page` for a route without params. */
function sharedPage(origin: string, path: string, rawPath: string): Readonly<Record<string, unknown>> {
  // Lengths make the key unambiguous whatever characters the parts hold.
  const key = `${origin.length}:${path.length}:${origin}${path}${rawPath}`;
  if (key.length > SHARED_KEY_CHARS) return pageOf(origin, path, rawPath, {});
  return sharedPages.get(key) ?? remember(sharedPages, key, pageOf(origin, path, rawPath, {}));
}

function sharedUrl(href: string): Readonly<Record<string, unknown>> {
  if (href.length > SHARED_KEY_CHARS) return splitReflexUrl(href);
  return sharedUrls.get(href) ?? remember(sharedUrls, href, splitReflexUrl(href));
}

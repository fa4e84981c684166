import { pageGlobals } from './page-globals.js';
import { FIELD_MARKER, ROOT_STATE_NAME } from './protocol.constants.js';

/** Options of one cookie var, as a Reflex frontend's compiled client storage map holds them. */
export interface ClientStorageCookieOptions {
  name?: string;
  path?: string;
  maxAge?: number;
  domain?: string;
  secure?: boolean;
  sameSite?: 'lax' | 'strict' | 'none' | boolean;
}

/** Options of one localStorage var. */
export interface ClientStorageLocalOptions {
  name?: string;
  sync?: boolean;
}

/** Options of one sessionStorage var. */
export interface ClientStorageSessionOptions {
  name?: string;
}

/**
 * Which vars live in the browser, by wire name (`<full state name>.<var>_rx_state_`): the shape of a Reflex
 * frontend's compiled `clientStorage`, and of `ClientStorageVars.map()` on a ReflexBridge server. The browser key
 * is `options.name`, or the wire name when there is none.
 */
export interface ClientStorageMap {
  cookies?: Record<string, ClientStorageCookieOptions>;
  local_storage?: Record<string, ClientStorageLocalOptions>;
  session_storage?: Record<string, ClientStorageSessionOptions>;
}

/** The Web Storage calls used (`localStorage`, `sessionStorage`). */
interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The browser globals used; each may be missing (Node, a sandboxed frame). */
interface BrowserGlobals {
  localStorage?: WebStorage;
  sessionStorage?: WebStorage;
  document?: { cookie: string };
  addEventListener?: (type: 'storage', listener: (event: { key: string | null; newValue: string | null }) => void) => void;
  removeEventListener?: (type: 'storage', listener: (event: { key: string | null; newValue: string | null }) => void) => void;
}

/** Storage access can throw (disabled storage, a sandbox): treat that as "not available", as outside a page. */
function storageOf(name: 'localStorage' | 'sessionStorage'): WebStorage | undefined {
  try {
    return pageGlobals<BrowserGlobals>()?.[name];
  } catch {
    return undefined;
  }
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The page's cookies, or `''` where it may not read them (`document.cookie` throws in a sandboxed frame). */
function cookieJar(): string {
  try {
    return (globalThis as BrowserGlobals).document?.cookie ?? '';
  } catch {
    return '';
  }
}

function readCookie(name: string): string | undefined {
  const jar = cookieJar();
  if (typeof jar !== 'string' || jar === '') return undefined;
  for (const pair of jar.split(/;\s*/)) {
    const equals = pair.indexOf('=');
    if (equals !== -1 && pair.slice(0, equals) === name) return decode(pair.slice(equals + 1));
  }
  return undefined;
}

/**
 * A var's value as the browser stores it (`String()`, as Reflex's client does), or `undefined` for an object that
 * has no text form: a delta's `{"toString": 1}` makes `String()` throw, which must not break the delta's other vars.
 */
function storedText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  try {
    return String(raw);
  } catch {
    return undefined;
  }
}

/** A surrogate pair, or half of one standing alone. */
const SURROGATES = /[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]/g;

/**
 * `encodeURIComponent`, with each lone surrogate (a string the server cut inside an emoji) sent as U+FFFD, as a
 * UTF-8 encoder does: `encodeURIComponent` throws a URIError on one, which would end the whole delta's handling.
 */
function encodeCookieValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(SURROGATES, (unit) => (unit.length === 2 ? unit : '\uFFFD')));
  }
}

function writeCookie(name: string, value: string, options: ClientStorageCookieOptions): void {
  const document = (globalThis as BrowserGlobals).document;
  if (!document) return;
  let cookie = `${name}=${encodeCookieValue(value)}`;
  if (options.path) cookie += `; Path=${options.path}`;
  if (typeof options.maxAge === 'number') cookie += `; Max-Age=${Math.floor(options.maxAge)}`;
  if (options.domain) cookie += `; Domain=${options.domain}`;
  if (options.secure) cookie += '; Secure';
  // As the cookie library Reflex's client uses reads it: `true` is Strict, `false` leaves the attribute out.
  const sameSite = options.sameSite === true ? 'Strict' : typeof options.sameSite === 'string' ? options.sameSite[0]!.toUpperCase() + options.sameSite.slice(1).toLowerCase() : undefined;
  if (sameSite) cookie += `; SameSite=${sameSite}`;
  try {
    document.cookie = cookie;
  } catch {
    // A sandboxed frame may not set cookies: the server keeps the value, the browser cannot.
  }
}

/**
 * The browser side of client storage vars, as Reflex's client does it: reads the stored values to send in
 * `update_vars_internal` when a page loads, writes a var's new value to its cookie or storage key when a delta
 * carries it, and reports changes other tabs make to `sync` localStorage vars. Without a browser (Node) it reads
 * nothing and writes nothing.
 */
export class ClientStorage {
  constructor(private readonly map: ClientStorageMap) {}

  /** True when the map declares any var. */
  get declared(): boolean {
    return Object.keys(this.map.cookies ?? {}).length + Object.keys(this.map.local_storage ?? {}).length + Object.keys(this.map.session_storage ?? {}).length > 0;
  }

  /** The values the browser holds, by wire name: what `update_vars_internal` carries (vars not set are left out). */
  read(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [wireName, options] of Object.entries(this.map.cookies ?? {})) {
      const value = readCookie(options.name || wireName);
      if (value !== undefined) values[wireName] = value;
    }
    const local = storageOf('localStorage');
    for (const [wireName, options] of Object.entries(this.map.local_storage ?? {})) {
      const value = local?.getItem(options.name || wireName);
      if (typeof value === 'string') values[wireName] = value;
    }
    const session = storageOf('sessionStorage');
    for (const [wireName, options] of Object.entries(this.map.session_storage ?? {})) {
      const value = session?.getItem(options.name || wireName);
      if (typeof value === 'string') values[wireName] = value;
    }
    return values;
  }

  /**
   * The entries of an `update_vars_internal`'s `vars` that name no var of this map. A queued update for the declared
   * ones is stale once a connection's hydrate sequence ran: hydrate resets them and the `update_vars_internal` that
   * follows carries what the browser holds now.
   */
  undeclared(vars: Record<string, unknown>): Record<string, unknown> {
    const rest: Record<string, unknown> = {};
    for (const [wireName, value] of Object.entries(vars)) {
      if (Object.hasOwn(this.map.cookies ?? {}, wireName) || Object.hasOwn(this.map.local_storage ?? {}, wireName) || Object.hasOwn(this.map.session_storage ?? {}, wireName)) continue;
      Object.defineProperty(rest, wireName, { value, enumerable: true, writable: true, configurable: true });
    }
    return rest;
  }

  /**
   * Writes the client storage vars a delta carries to the browser. A delta that reports the root state not
   * hydrated (the hydrate answer) is skipped: the browser's values are what the client sends next.
   */
  write(delta: Record<string, Record<string, unknown>>): void {
    const root = delta[ROOT_STATE_NAME];
    if (root && Object.hasOwn(root, `is_hydrated${FIELD_MARKER}`) && !root[`is_hydrated${FIELD_MARKER}`]) return;
    for (const [state, vars] of Object.entries(delta)) {
      // A malformed delta entry (null, a number) carries no vars; the state store ignores it too.
      if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) continue;
      for (const [key, raw] of Object.entries(vars)) {
        const wireName = `${state}.${key}`;
        const cookie = this.map.cookies?.[wireName];
        const local = this.map.local_storage?.[wireName];
        const session = this.map.session_storage?.[wireName];
        // Only a var that lives in the browser is turned into text: `String()` of a state's long list costs.
        if (!cookie && !local && !session) continue;
        const value = storedText(raw);
        if (value === undefined) continue;
        if (cookie) {
          const { name, ...options } = cookie;
          writeCookie(name || wireName, value, options);
          continue;
        }
        try {
          if (local) storageOf('localStorage')?.setItem(local.name || wireName, value);
          if (session) storageOf('sessionStorage')?.setItem(session.name || wireName, value);
        } catch {
          // A full or disabled storage: the server keeps the value, the browser cannot.
        }
      }
    }
  }

  /**
   * Calls `onChange({ [wireName]: newValue })` when another tab changes a `sync` localStorage var.
   * @returns A function that stops listening.
   */
  watch(onChange: (vars: Record<string, string | null>) => void): () => void {
    const byKey = new Map<string, string>();
    for (const [wireName, options] of Object.entries(this.map.local_storage ?? {})) if (options.sync) byKey.set(options.name || wireName, wireName);
    const globals = globalThis as BrowserGlobals;
    if (byKey.size === 0 || typeof globals.addEventListener !== 'function') return () => {};
    const listener = (event: { key: string | null; newValue: string | null }) => {
      const wireName = event.key === null ? undefined : byKey.get(event.key);
      if (wireName) onChange({ [wireName]: event.newValue });
    };
    globals.addEventListener('storage', listener);
    return () => globals.removeEventListener?.('storage', listener);
  }
}

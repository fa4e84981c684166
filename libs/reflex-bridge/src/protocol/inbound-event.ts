import { BridgeError } from './bridge-error.js';
import { UnparsedEvent } from './unparsed-event.js';

/** What the client sends about the page it is on (Reflex's `router_data`). */
export interface ClientRouterData {
  pathname?: string;
  asPath?: string;
  query?: Record<string, unknown>;
  [key: string]: unknown;
}

/** `router_data` after the server added what only it knows (token, socket id, headers, client IP). */
export interface RouterData extends ClientRouterData {
  token: string;
  sid: string;
  headers: Record<string, string>;
  ip: string;
}

/** A validated inbound event, before its handler is looked up. */
export interface InboundEvent {
  /** Full handler name: `<full state name>.<method>`. */
  name: string;
  /** Handler arguments keyed by parameter name; `{}` when the client sent none. */
  payload: Record<string, unknown>;
  /** The page data the client sent (server fields are added by the pipeline). */
  routerData: ClientRouterData;
}

/**
 * Keys that could reach an object's prototype if copied blindly; rejected anywhere in a payload. The walk compares
 * the three names inline (JSON.parse gives keys as internalized strings, so each comparison is one pointer test).
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** How deep a payload may nest before it is refused (protects the validators and the delta code). */
const MAX_DEPTH = 32;

/**
 * How many values (keys and array items) one event may carry. A frame within `maxMessageBytes` may carry more (a
 * megabyte of `1,` carries 500,000); the bound keeps the validation walk's work fixed whatever reached the parser.
 */
export const MAX_EVENT_VALUES = 200_000;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * How many values `router_data` may carry: the page's path and its URL's query, which Reflex's frontend sends with
 * every event and the pipeline copies into every follow-up event and into the `router` var. A URL holds far fewer.
 */
export const MAX_ROUTER_DATA_VALUES = 4_096;

/**
 * How many characters the keys and texts of `router_data` may hold together, its `pathname` and `asPath` aside: the
 * URL's query, which the `router` var keeps whole in the client's state for as long as the state lives (the two paths
 * are cut to 8,192 characters there, and `asPath` may carry a long `#fragment` that no server ever sees). Servers
 * refuse URLs far shorter (Node's whole request head is at most 16 KiB by default, nginx's request line 8 KiB);
 * without it one client could make every state it opens hold about a message's worth of made-up query, kept for the
 * state's TTL.
 */
export const MAX_ROUTER_DATA_CHARS = 32_768;

/** Characters of `router_data`'s keys and texts but its two paths (see {@link MAX_ROUTER_DATA_CHARS}), up to past `limit`. */
function routerDataChars(routerData: Record<string, unknown>, limit: number): number {
  let chars = 0;
  for (const key in routerData) {
    if (key === 'pathname' || key === 'asPath') continue;
    if ((chars += key.length + charsIn(routerData[key], limit - chars - key.length)) > limit) return chars;
  }
  return chars;
}

/** Characters of the keys and strings in `value`, stopping once past `limit` (the walk is already bounded in values). */
function charsIn(value: unknown, limit: number): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return 0;
  let chars = 0;
  if (Array.isArray(value)) {
    for (const item of value) if ((chars += charsIn(item, limit - chars)) > limit) return chars;
    return chars;
  }
  for (const key in value) {
    if ((chars += key.length + charsIn((value as Record<string, unknown>)[key], limit - chars - key.length)) > limit) return chars;
  }
  return chars;
}

/** Values the current walk may still visit (one walk at a time: validation is synchronous, so no allocation per event). */
let budget = 0;

/** Values the last event {@link parseInboundEvent} accepted carries (see {@link valuesInLastEvent}). */
let lastValues = 0;

/**
 * How many values (keys and array items, `router_data`'s included) the event {@link parseInboundEvent} last returned
 * carries: read right after it (validation is synchronous), to estimate what the parsed event takes in memory.
 */
export function valuesInLastEvent(): number {
  return lastValues;
}

function tooMany(): BridgeError {
  return new BridgeError('invalid_payload', `The event carries more than ${MAX_EVENT_VALUES} values.`);
}

/** The first problem found in `value`, walking it once, bounded in depth and by {@link budget}. */
function problemIn(value: unknown, depth: number): BridgeError | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return new BridgeError('invalid_payload', `The event nests deeper than ${MAX_DEPTH} levels.`);
  if (Array.isArray(value)) {
    if ((budget -= value.length) < 0) return tooMany();
    for (const item of value) {
      const found = problemIn(item, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  // Socket.IO turns binary attachments into Buffers: events are JSON, and walking a Buffer's indexes would
  // cost a tick per byte. Anything else that is not a plain object did not come from JSON either.
  if (!isPlainObject(value)) return new BridgeError('invalid_event', 'Events are JSON: binary attachments and other non-JSON values are refused.');
  return problemInEntries(value, depth);
}

/** The first problem found in the keys and values of `value`, a plain object (see {@link problemIn}). */
function problemInEntries(value: Record<string, unknown>, depth: number): BridgeError | undefined {
  for (const key in value) {
    if (--budget < 0) return tooMany();
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return new BridgeError('invalid_payload', `The event carries a forbidden key: ${key}.`);
    const found = problemIn(value[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** `true` for the names {@link parseInboundEvent} refuses anywhere (`__proto__`, `constructor`, `prototype`). */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/**
 * Refuses `router_data` fields of the wrong type: `pathname` and `asPath` are texts, `query` an object of the URL's
 * parameters, each a text, a list of texts or null (an optional route argument the URL lacks). A string `query` would otherwise be copied character by character, one
 * key each.
 */
function refuseMalformedPage(routerData: Record<string, unknown>): void {
  const { pathname, asPath, query } = routerData;
  if ((pathname !== undefined && pathname !== null && typeof pathname !== 'string') || (asPath !== undefined && asPath !== null && typeof asPath !== 'string')) {
    throw new BridgeError('invalid_event', 'The event "router_data.pathname" and "router_data.asPath" must be strings.');
  }
  if (query !== undefined && query !== null) {
    if (!isPlainObject(query)) throw new BridgeError('invalid_event', 'The event "router_data.query" must be an object.');
    // What a URL's query carries (Reflex's frontend sends Next.js's `router.query`): the `router` var keeps it whole
    // in the client's state, where anything else (thousands of empty objects) holds far more memory than it measures.
    // `null` is an optional route argument the page's URL lacks: React Router's `useParams()` gives it as undefined,
    // which state.js's encoder writes as null (the pipeline drops it).
    for (const key in query) {
      const value = query[key];
      if (value !== null && typeof value !== 'string' && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) {
        throw new BridgeError('invalid_event', 'The event "router_data.query" values must be strings, lists of strings or null, as a URL carries them.');
      }
    }
  }
}

/**
 * Validates the envelope of an inbound `event` frame, the way Reflex reads it: only `name`, `payload` and
 * `router_data` are kept; a string frame is JSON-parsed first. `router_data` must hold a page as Reflex's frontend
 * sends it (see {@link refuseMalformedPage}), within {@link MAX_ROUTER_DATA_VALUES} and {@link MAX_ROUTER_DATA_CHARS}. Throws a {@link BridgeError}
 * for anything else.
 */
export function parseInboundEvent(frame: unknown): InboundEvent {
  let data = frame;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      throw new BridgeError('invalid_event', 'The event is not valid JSON.');
    }
  }
  if (!isPlainObject(data)) {
    // A frame the decoder refused to parse (too many objects and arrays): its reason, for its client.
    if (data instanceof UnparsedEvent) throw data.error;
    // Socket.IO hands a binary attachment sent as the event itself over as a Buffer.
    if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) throw new BridgeError('invalid_event', 'Events are JSON: binary attachments are refused.');
    throw new BridgeError('invalid_event', 'An event must be a JSON object.');
  }
  const { name, payload, router_data: routerData } = data;
  if (typeof name !== 'string' || name.length === 0 || name.length > 512) {
    throw new BridgeError('invalid_event', 'An event needs a "name" string of at most 512 characters.');
  }
  if (payload !== undefined && payload !== null && !isPlainObject(payload)) {
    throw new BridgeError('invalid_payload', 'The event "payload" must be an object of handler arguments.');
  }
  if (routerData !== undefined && routerData !== null && !isPlainObject(routerData)) {
    throw new BridgeError('invalid_event', 'The event "router_data" must be an object.');
  }
  if (routerData) refuseMalformedPage(routerData as Record<string, unknown>);
  // Both are plain objects (or absent) by now: their entries are walked without checking them again.
  budget = MAX_EVENT_VALUES;
  const problem = payload ? problemInEntries(payload as Record<string, unknown>, 0) : undefined;
  if (problem) throw problem;
  let values = MAX_EVENT_VALUES - budget;
  if (routerData) {
    budget = MAX_ROUTER_DATA_VALUES;
    const found = problemInEntries(routerData as Record<string, unknown>, 0);
    values += MAX_ROUTER_DATA_VALUES - budget;
    if (budget < 0) throw new BridgeError('invalid_event', `The event "router_data" carries more than ${MAX_ROUTER_DATA_VALUES} values.`);
    if (found) throw found;
    if (routerDataChars(routerData as Record<string, unknown>, MAX_ROUTER_DATA_CHARS) > MAX_ROUTER_DATA_CHARS) {
      throw new BridgeError('invalid_event', `The event "router_data" holds more than ${MAX_ROUTER_DATA_CHARS} characters.`);
    }
  }
  lastValues = values;
  return {
    name,
    payload: (payload as Record<string, unknown> | undefined) ?? {},
    routerData: (routerData as ClientRouterData | undefined) ?? {},
  };
}

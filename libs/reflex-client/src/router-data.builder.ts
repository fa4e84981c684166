import type { RouterData } from './outbound-event.types.js';

/** Base used to parse relative page paths; only the path, query and hash of the result are used. */
const PARSE_BASE = 'http://reflex.invalid';

/** Query keys that the server refuses anywhere in an event; they are left out instead of failing every event. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Builds `router_data` for an outgoing event.
 *
 * When `page` is given (a path such as `/posts/42?x=1#h`), it describes the page. Otherwise the browser's
 * `location` is used when there is one, and `/` in Node.
 * @param page Path of the current page, or `undefined` to use `location` (or `/`).
 */
export function buildRouterData(page?: string): RouterData {
  let href = page;
  if (href === undefined) {
    const location = (globalThis as { location?: { pathname?: string; search?: string; hash?: string } }).location;
    href = typeof location?.pathname === 'string' ? location.pathname + (location.search ?? '') + (location.hash ?? '') : '/';
  }
  const url = new URL(href, PARSE_BASE);
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    const previous = query[key];
    if (previous === undefined) query[key] = value;
    else query[key] = Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return { pathname: url.pathname, asPath: url.pathname + url.search + url.hash, query };
}

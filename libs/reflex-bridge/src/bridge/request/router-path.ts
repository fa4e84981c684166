import { isForbiddenKey } from '../../protocol/inbound-event.js';

/** The longest page path a bridged request keeps; a longer `router_data.pathname` is cut (it is client input). */
export const MAX_PATHNAME_LENGTH = 8192;

/** How many query parameters a `router_data.pathname` may contribute; later ones are ignored. */
export const MAX_PATHNAME_QUERY_PARAMS = 256;

/** The page a bridged request is for: its path (never carrying `?` or `#`) and its query. */
export interface RouterPath {
  path: string;
  query: Record<string, unknown>;
}

/**
 * Splits the page the client says it is on into path and query, as reflex-django does: `/products?page=2`
 * gives path `/products` and query `{ page: '2' }`. A fragment (`#...`) is dropped. The query parsed from
 * the pathname is merged with `router_data.query`, which wins where both name a key (it is what the client's
 * router parsed). Keys are normalised like `router_data.query`'s (`-` becomes `_`); `__proto__`, `constructor`
 * and `prototype` are dropped. The pathname is any string from the client: it is bounded
 * ({@link MAX_PATHNAME_LENGTH}, {@link MAX_PATHNAME_QUERY_PARAMS}) and this never throws.
 *
 * A pathname without `?` or `#` (the usual case) returns `query` itself, allocating nothing but the result.
 */
export function splitPathname(pathname: string, query: Record<string, unknown>): RouterPath {
  let raw = pathname.length > MAX_PATHNAME_LENGTH ? pathname.slice(0, MAX_PATHNAME_LENGTH) : pathname;
  const hash = raw.indexOf('#');
  if (hash !== -1) raw = raw.slice(0, hash);
  const mark = raw.indexOf('?');
  if (mark === -1) return { path: raw || '/', query };
  const path = raw.slice(0, mark) || '/';
  const search = raw.slice(mark + 1);
  if (search === '') return { path, query };
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let count = 0;
  // URLSearchParams never throws on a string: bad percent-escapes are kept as they are.
  for (const [key, value] of new URLSearchParams(search)) {
    if (++count > MAX_PATHNAME_QUERY_PARAMS) break;
    const name = key.includes('-') ? key.replace(/-/g, '_') : key;
    if (isForbiddenKey(name)) continue;
    const previous = merged[name];
    if (previous === undefined) merged[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else merged[name] = [previous, value];
  }
  // `merged` has no prototype, so even a key named `__proto__` is stored as data.
  for (const key in query) merged[key] = query[key];
  return { path, query: merged };
}

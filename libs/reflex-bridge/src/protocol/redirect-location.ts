import { redirect, type ClientEvent } from './client-event.js';

/** Schemes a redirect may lead to: anything else (`javascript:`, `data:`) would run in, or replace, the page. */
const NAVIGABLE_PROTOCOLS = new Set(['http:', 'https:']);

/** What a middleware's `Location` is resolved against. */
export interface RedirectBase {
  /** The bridged request's own URL (`http://backend:8000/cart?x=1`): relative locations resolve against it. */
  requestUrl: string;
  /** The page's origin (the `Origin` header), when the browser sent one: a frontend served from elsewhere. */
  pageOrigin?: string;
}

function parse(url: string, base?: string): URL | undefined {
  try {
    return new URL(url, base);
  } catch {
    return undefined;
  }
}

/**
 * The `_redirect` client event for a middleware's redirect (`res.redirect(...)`, status in
 * `bridge.redirectStatuses`), shaped for what Reflex's `state.js` does with it:
 *
 * - a location on the backend's own origin or the page's origin (relative ones included: `/login`, `login`,
 *   `http://<backend host>/login`) becomes the path `/login?x#y`, which `state.js` navigates to inside the app
 *   (an absolute URL on the backend's host would instead load the backend in the tab when the frontend is
 *   served from another origin);
 * - a location elsewhere stays absolute: `state.js` loads it in the same tab (`window.location.assign`), as a
 *   browser follows an HTTP redirect. It is never `external` (that opens a new window);
 * - `replace` is on: as after an HTTP redirect, the page that was redirected away from is not left in the
 *   history (Back would only redirect again).
 *
 * Returns undefined for a location that is not an http(s) URL (`javascript:`, `data:`, unparsable): such a
 * redirect is refused instead of sent.
 */
export function redirectForLocation(location: string, base: RedirectBase): ClientEvent | undefined {
  const requestUrl = parse(base.requestUrl) ?? parse('http://localhost/');
  const target = parse(location, requestUrl?.href);
  if (!target || !NAVIGABLE_PROTOCOLS.has(target.protocol)) return undefined;
  const pageOrigin = base.pageOrigin ? parse(base.pageOrigin)?.origin : undefined;
  const inApp = target.origin === requestUrl?.origin || (pageOrigin !== undefined && pageOrigin !== 'null' && target.origin === pageOrigin);
  return redirect(inApp ? `${target.pathname}${target.search}${target.hash}` : target.href, { replace: true });
}

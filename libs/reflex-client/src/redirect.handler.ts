import type { RedirectOptions } from './client-event.types.js';

/** Called for every `_redirect` event the server sends (Reflex's `rx.redirect`). */
export type RedirectHandler = (path: string, options: RedirectOptions) => void;

/** The parts of the browser `window` the default redirect uses. */
interface BrowserWindow {
  location: { href?: string; assign(url: string): void; replace(url: string): void };
  open(url: string, target?: string, features?: string): unknown;
}

/** Reads the flags of a `_redirect` payload; anything missing or not `true` counts as `false`. */
export function toRedirectOptions(payload: Record<string, unknown>): RedirectOptions {
  return { external: payload['external'] === true, popup: payload['popup'] === true, replace: payload['replace'] === true };
}

/** Schemes whose URL runs code, or shows a document of the server's making, when a page navigates to it. */
const SCRIPT_SCHEMES: ReadonlySet<string> = new Set(['javascript:', 'data:', 'vbscript:']);

/**
 * True for a `javascript:`, `data:` or `vbscript:` URL, read as a browser reads it (case, leading spaces and tabs or
 * newlines inside the scheme do not hide it). The client hands no such redirect to `onRedirect`: what an app's
 * handler does with a path (`location.href = path`) would run code the server sent.
 */
export function isScriptUrl(path: string): boolean {
  try {
    return SCRIPT_SCHEMES.has(new URL(path, 'http://localhost/').protocol);
  } catch {
    return false;
  }
}

/** True for a path or an `http(s)` URL; false for other schemes (`javascript:`, `data:`) and what does not parse. */
function isWebUrl(path: string, base: string | undefined): boolean {
  try {
    const { protocol } = new URL(path, base ?? 'http://localhost/');
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * The redirect used when no `onRedirect` option is given.
 *
 * In a browser, as Reflex's `state.js`: `external` opens a new window without an opener (a popup window with
 * `popup`; `popup` alone does nothing), `replace` calls
 * `location.replace()`, otherwise `location.assign()`. The page therefore reloads, and the next page's client
 * connects and hydrates again. A redirect to another scheme than `http(s)` (`javascript:`, `data:`) is ignored.
 * In Node it is `undefined`: redirects only reach `onClientEvent` listeners.
 */
export function defaultRedirectHandler(): RedirectHandler | undefined {
  const browser = (globalThis as { window?: Partial<BrowserWindow> }).window;
  if (!browser?.location || typeof browser.location.assign !== 'function') return undefined;
  const win = browser as BrowserWindow;
  return (path, options) => {
    // Only web pages: a `javascript:` or `data:` URL would run code the server sent, which this client never does.
    if (!isWebUrl(path, win.location.href)) return;
    // As Reflex's state.js: only `external` opens a window (`popup` only shapes it), always without an opener.
    if (options.external) {
      win.open(path, '_blank', options.popup ? 'noopener,popup' : 'noopener');
    } else if (options.replace) {
      win.location.replace(path);
    } else {
      win.location.assign(path);
    }
  };
}

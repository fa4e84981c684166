import type { ClientEvent } from './client-event.types.js';
import { pageGlobals } from './page-globals.js';

/** The frontend events that change browser storage; the client runs its hydrate sequence again after an update with any. */
export const STORAGE_EVENTS: ReadonlySet<string> = new Set([
  '_remove_cookie',
  '_clear_local_storage',
  '_remove_local_storage',
  '_clear_session_storage',
  '_remove_session_storage',
]);

/** What the storage events call on `localStorage` / `sessionStorage`. */
interface WebStorage {
  clear(): void;
  removeItem(key: string): void;
}

/** The parts of the browser the storage events touch. */
interface BrowserStorage {
  localStorage?: WebStorage;
  sessionStorage?: WebStorage;
  document?: { cookie: string };
}

/**
 * An attribute value the server sent, when it is one: `;` or a control character would add attributes of the
 * server's choosing (`; max-age=…` turns the removal into a cookie set for a year), so such a value is left out, as
 * the `cookie` library Reflex's client uses refuses it.
 */
function attribute(value: unknown): string | undefined {
  // eslint-disable-next-line no-control-regex
  return typeof value === 'string' && value.length > 0 && !/[;\x00-\x1f\x7f]/.test(value) ? value : undefined;
}

/** `name=; expires=<past>` with the event's path and domain: how a page removes a (non-HttpOnly) cookie. */
function expiredCookie(key: string, options: Record<string, unknown>): string {
  let cookie = `${encodeURIComponent(key)}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0`;
  const path = attribute(options['path']);
  if (path) cookie += `; path=${path}`;
  const domain = attribute(options['domain']);
  if (domain) cookie += `; domain=${domain}`;
  if (options['secure'] === true) cookie += '; secure';
  const sameSite = attribute(options['sameSite']);
  if (sameSite && /^(?:lax|strict|none)$/i.test(sameSite)) cookie += `; samesite=${sameSite}`;
  return cookie;
}

/** Runs one change to the page's storage; false where the page may not touch it (a sandboxed frame throws). */
function attempt(change: () => boolean): boolean {
  try {
    return change();
  } catch {
    return false;
  }
}

/**
 * Applies a storage event (`_remove_cookie`, `_clear_local_storage`, `_remove_local_storage`,
 * `_clear_session_storage`, `_remove_session_storage`) to the browser's storage, as Reflex's client does.
 * Returns whether it did: false outside a browser, where the page may not touch that storage, or for another event.
 */
export function applyBrowserStorageEvent(event: ClientEvent, browser: BrowserStorage = pageGlobals<BrowserStorage>() ?? {}): boolean {
  return attempt(() => applyStorageEvent(event, browser));
}

function applyStorageEvent(event: ClientEvent, browser: BrowserStorage): boolean {
  const key = typeof event.payload['key'] === 'string' ? event.payload['key'] : undefined;
  switch (event.name) {
    case '_clear_local_storage':
      if (!browser.localStorage) return false;
      browser.localStorage.clear();
      return true;
    case '_remove_local_storage':
      if (!browser.localStorage || key === undefined) return false;
      browser.localStorage.removeItem(key);
      return true;
    case '_clear_session_storage':
      if (!browser.sessionStorage) return false;
      browser.sessionStorage.clear();
      return true;
    case '_remove_session_storage':
      if (!browser.sessionStorage || key === undefined) return false;
      browser.sessionStorage.removeItem(key);
      return true;
    case '_remove_cookie': {
      if (!browser.document || key === undefined) return false;
      const options = typeof event.payload['options'] === 'object' && event.payload['options'] !== null ? (event.payload['options'] as Record<string, unknown>) : {};
      browser.document.cookie = expiredCookie(key, options);
      return true;
    }
    default:
      return false;
  }
}

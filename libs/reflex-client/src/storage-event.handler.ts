import type { ClientEvent } from './client-event.types.js';

/** The frontend events that change browser storage; Reflex's client runs its hydrate sequence again after each. */
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

/** `name=; expires=<past>` with the event's path and domain: how a page removes a (non-HttpOnly) cookie. */
function expiredCookie(key: string, options: Record<string, unknown>): string {
  let cookie = `${encodeURIComponent(key)}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0`;
  if (typeof options['path'] === 'string') cookie += `; path=${options['path']}`;
  if (typeof options['domain'] === 'string') cookie += `; domain=${options['domain']}`;
  if (options['secure'] === true) cookie += '; secure';
  if (typeof options['sameSite'] === 'string') cookie += `; samesite=${options['sameSite']}`;
  return cookie;
}

/**
 * Applies a storage event (`_remove_cookie`, `_clear_local_storage`, `_remove_local_storage`,
 * `_clear_session_storage`, `_remove_session_storage`) to the browser's storage, as Reflex's client does.
 * Returns whether it did: false outside a browser, or for another event.
 */
export function applyBrowserStorageEvent(event: ClientEvent, browser: BrowserStorage = globalThis as BrowserStorage): boolean {
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

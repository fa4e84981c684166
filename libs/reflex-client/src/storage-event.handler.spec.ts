import { describe, expect, it } from '@jest/globals';
import { applyBrowserStorageEvent } from './storage-event.handler.js';

/** An in-memory `Storage`. */
function memoryStorage(entries: Record<string, string>) {
  const map = new Map(Object.entries(entries));
  return {
    map,
    clear: () => map.clear(),
    removeItem: (key: string) => void map.delete(key),
  };
}

describe('applyBrowserStorageEvent', () => {
  it('applies each storage event as Reflex client does', () => {
    const localStorage = memoryStorage({ a: '1', b: '2' });
    const sessionStorage = memoryStorage({ token: 't', c: '3' });
    const document = { cookie: '' };
    const browser = { localStorage, sessionStorage, document };

    expect(applyBrowserStorageEvent({ name: '_remove_local_storage', payload: { key: 'a' } }, browser)).toBe(true);
    expect([...localStorage.map.keys()]).toEqual(['b']);
    expect(applyBrowserStorageEvent({ name: '_clear_local_storage', payload: {} }, browser)).toBe(true);
    expect(localStorage.map.size).toBe(0);
    expect(applyBrowserStorageEvent({ name: '_remove_session_storage', payload: { key: 'c' } }, browser)).toBe(true);
    expect([...sessionStorage.map.keys()]).toEqual(['token']);
    expect(applyBrowserStorageEvent({ name: '_clear_session_storage', payload: {} }, browser)).toBe(true);
    expect(sessionStorage.map.size).toBe(0);
    expect(applyBrowserStorageEvent({ name: '_remove_cookie', payload: { key: 'theme', options: { path: '/', domain: 'shop.example' } } }, browser)).toBe(true);
    expect(document.cookie).toBe('theme=; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0; path=/; domain=shop.example');
  });

  it('keeps a removal a removal: cookie options a server sends cannot add attributes', () => {
    const document = { cookie: '' };
    const options = { path: '/; max-age=31536000', domain: 'shop.example\r\nx', sameSite: 'lax; domain=evil.test', secure: true };
    expect(applyBrowserStorageEvent({ name: '_remove_cookie', payload: { key: 'theme', options } }, { document })).toBe(true);
    expect(document.cookie).toBe('theme=; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0; secure');
    applyBrowserStorageEvent({ name: '_remove_cookie', payload: { key: 'theme', options: { path: '/app', sameSite: 'Strict' } } }, { document });
    expect(document.cookie).toBe('theme=; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0; path=/app; samesite=Strict');
  });

  it('does not throw where the page may not touch its storage (a sandboxed frame, storage disabled)', () => {
    const denied = (): never => {
      throw new Error('SecurityError: The operation is insecure.');
    };
    const browser = Object.defineProperties({}, {
      localStorage: { get: denied },
      sessionStorage: { get: denied },
      document: { get: () => Object.defineProperty({}, 'cookie', { get: denied, set: denied }) },
    });
    for (const name of ['_clear_local_storage', '_remove_local_storage', '_clear_session_storage', '_remove_session_storage', '_remove_cookie']) {
      expect(applyBrowserStorageEvent({ name, payload: { key: 'a' } }, browser)).toBe(false);
    }
  });

  it("applies them to a page's storage by default, and leaves Node's own (Node 25 and later, no window) alone", () => {
    const scope = globalThis as { sessionStorage?: unknown; window?: unknown };
    const sessionStorage = memoryStorage({ a: '1' });
    scope.sessionStorage = sessionStorage;
    try {
      expect(applyBrowserStorageEvent({ name: '_clear_session_storage', payload: {} })).toBe(false);
      expect([...sessionStorage.map]).toEqual([['a', '1']]);
      scope.window = globalThis;
      expect(applyBrowserStorageEvent({ name: '_clear_session_storage', payload: {} })).toBe(true);
      expect(sessionStorage.map.size).toBe(0);
    } finally {
      delete scope.sessionStorage;
      delete scope.window;
    }
  });

  it('does nothing outside a browser, or for other events', () => {
    expect(applyBrowserStorageEvent({ name: '_clear_local_storage', payload: {} }, {})).toBe(false);
    expect(applyBrowserStorageEvent({ name: '_set_focus', payload: { ref: 'ref_x' } }, { localStorage: memoryStorage({}) })).toBe(false);
    expect(applyBrowserStorageEvent({ name: '_remove_local_storage', payload: {} }, { localStorage: memoryStorage({ a: '1' }) })).toBe(false);
  });
});

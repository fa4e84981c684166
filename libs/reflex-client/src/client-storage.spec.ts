import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ClientStorage } from './client-storage.js';

const PREFS = 'reflex___state____state.prefs_state';

/** A Map-backed Web Storage. */
class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
}

describe('ClientStorage', () => {
  const globals = globalThis as Record<string, unknown>;
  let local: MemoryStorage;
  let session: MemoryStorage;
  let cookies: string[];
  const storage = new ClientStorage({
    cookies: { [`${PREFS}.theme_rx_state_`]: { name: 'theme', path: '/', maxAge: 60, sameSite: 'strict' } },
    local_storage: { [`${PREFS}.category_rx_state_`]: { sync: true } },
    session_storage: { [`${PREFS}.draft_rx_state_`]: { name: 'draft' } },
  });

  beforeEach(() => {
    local = new MemoryStorage();
    session = new MemoryStorage();
    cookies = [];
    globals['window'] = globalThis;
    globals['localStorage'] = local;
    globals['sessionStorage'] = session;
    globals['document'] = {
      get cookie() {
        return 'other=1; theme=dark%20blue';
      },
      set cookie(value: string) {
        cookies.push(value);
      },
    };
  });
  afterEach(() => {
    delete globals['window'];
    delete globals['localStorage'];
    delete globals['sessionStorage'];
    delete globals['document'];
  });

  it('reads what the browser holds, by wire name, leaving out what is not set', () => {
    local.setItem(`${PREFS}.category_rx_state_`, 'Tea');
    expect(storage.read()).toEqual({ [`${PREFS}.theme_rx_state_`]: 'dark blue', [`${PREFS}.category_rx_state_`]: 'Tea' });
  });

  it('writes a delta’s storage vars under their browser keys, with the cookie options', () => {
    storage.write({ [PREFS]: { theme_rx_state_: 'light', category_rx_state_: 'Cups', draft_rx_state_: 'hi', other_rx_state_: 'x' } });
    expect(cookies).toEqual(['theme=light; Path=/; Max-Age=60; SameSite=Strict']);
    expect([...local.items]).toEqual([[`${PREFS}.category_rx_state_`, 'Cups']]);
    expect([...session.items]).toEqual([['draft', 'hi']]);
  });

  it('skips the hydrate answer (is_hydrated false), as Reflex’s client does', () => {
    storage.write({ reflex___state____state: { is_hydrated_rx_state_: false }, [PREFS]: { category_rx_state_: '' } });
    expect(local.items.size).toBe(0);
  });

  it('never throws on a hostile delta, writes only its own cookie, and still writes the other vars', () => {
    // Values a broken server may send for a storage var: `String()` throws on the first two.
    const hostile: unknown[] = [{ toString: 1 }, { toString: {}, valueOf: {} }, '; Domain=evil.test', 'a\r\nSet-Cookie: x=1', 'x'.repeat(100_000), 'cut \uD83D', '\uDE00x'];
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...hostile), fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 50 }), (value, extra) => {
        cookies = [];
        local.items.clear();
        const delta = JSON.parse(JSON.stringify({ [PREFS]: { ...extra } })) as Record<string, Record<string, unknown>>;
        Object.assign(delta[PREFS]!, { theme_rx_state_: value, category_rx_state_: 'Cups' });
        delta['__proto__'] = { theme_rx_state_: 'x' };
        expect(() => storage.write(delta)).not.toThrow();
        // One cookie assignment at most, of the theme cookie alone: its value is encoded, so it cannot add attributes.
        for (const cookie of cookies) expect(cookie).toMatch(/^theme=[^;\s]*; Path=\/; Max-Age=60; SameSite=Strict$/);
        expect(local.items.get(`${PREFS}.category_rx_state_`)).toBe('Cups');
      }),
    );
  });

  it('writes a cookie value holding half of a surrogate pair (a string cut inside an emoji) with U+FFFD in its place', () => {
    // `encodeURIComponent` throws a URIError on a lone surrogate: the delta's other vars, its state listeners and the
    // hydration it carried were lost with it.
    storage.write({ [PREFS]: { theme_rx_state_: 'dark \uD83D', category_rx_state_: 'Cups' } });
    expect(cookies).toEqual(['theme=dark%20%EF%BF%BD; Path=/; Max-Age=60; SameSite=Strict']);
    expect(local.items.get(`${PREFS}.category_rx_state_`)).toBe('Cups');
    storage.write({ [PREFS]: { theme_rx_state_: '\uDE00\uD83D\uDE00' } });
    expect(cookies[1]).toBe('theme=%EF%BF%BD%F0%9F%98%80; Path=/; Max-Age=60; SameSite=Strict');
  });

  it('turns into text only the vars that live in the browser, not every var of every delta', () => {
    let calls = 0;
    const counted = { toString: () => `${++calls}` };
    // A state's 100,000-item list in a delta cost ~9 ms of String() per delta, for nothing.
    storage.write({ [PREFS]: { items_rx_state_: counted, other_rx_state_: counted }, other_state: { theme_rx_state_: counted } });
    expect(calls).toBe(0);
    storage.write({ [PREFS]: { theme_rx_state_: counted } });
    expect(calls).toBe(1);
    expect(cookies).toEqual(['theme=1; Path=/; Max-Age=60; SameSite=Strict']);
  });

  it('reads and writes nothing, without throwing, where the page may not touch its storage or cookies', () => {
    const denied = (): never => {
      throw new Error('SecurityError: The operation is insecure.');
    };
    for (const name of ['localStorage', 'sessionStorage']) Object.defineProperty(globals, name, { get: denied, configurable: true });
    globals['document'] = Object.defineProperty({}, 'cookie', { get: denied, set: denied });
    try {
      expect(storage.read()).toEqual({});
      expect(() => storage.write({ [PREFS]: { category_rx_state_: 'x', theme_rx_state_: 'y', draft_rx_state_: 'z' } })).not.toThrow();
    } finally {
      for (const name of ['localStorage', 'sessionStorage']) Object.defineProperty(globals, name, { value: undefined, writable: true, configurable: true });
    }
  });

  it("leaves Node's own web storage alone (Node 25 and later): it is the whole process's, not a page's", () => {
    delete globals['window'];
    delete globals['document'];
    local.setItem(`${PREFS}.category_rx_state_`, 'Tea');
    session.setItem('draft', 'hi');
    expect(storage.read()).toEqual({});
    storage.write({ [PREFS]: { category_rx_state_: 'Cups', draft_rx_state_: 'bye' } });
    expect([...local.items, ...session.items]).toEqual([[`${PREFS}.category_rx_state_`, 'Tea'], ['draft', 'hi']]);
  });

  it('reads and writes nothing without a browser', () => {
    delete globals['localStorage'];
    delete globals['sessionStorage'];
    delete globals['document'];
    expect(storage.read()).toEqual({});
    expect(() => storage.write({ [PREFS]: { category_rx_state_: 'x', theme_rx_state_: 'y' } })).not.toThrow();
    expect(storage.watch(() => {})).toBeInstanceOf(Function);
  });
});

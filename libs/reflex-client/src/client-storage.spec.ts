import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
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

  it('reads and writes nothing without a browser', () => {
    delete globals['localStorage'];
    delete globals['sessionStorage'];
    delete globals['document'];
    expect(storage.read()).toEqual({});
    expect(() => storage.write({ [PREFS]: { category_rx_state_: 'x', theme_rx_state_: 'y' } })).not.toThrow();
    expect(storage.watch(() => {})).toBeInstanceOf(Function);
  });
});

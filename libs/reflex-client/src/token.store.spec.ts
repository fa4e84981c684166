import { afterEach, describe, expect, it } from '@jest/globals';
import { generateToken, isToken } from './token.generator.js';
import { TokenStore, defaultTokenStorage, type TokenStorage } from './token.store.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A Web Storage stand-in that records what was written. */
class MapStorage implements TokenStorage {
  readonly items = new Map<string, string>();
  writes = 0;
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.writes += 1;
    this.items.set(key, value);
  }
}

describe('generateToken / isToken', () => {
  it('generates distinct UUID v4 tokens', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(UUID_V4);
    expect(b).toMatch(UUID_V4);
    expect(a).not.toBe(b);
  });

  it('falls back to getRandomValues when randomUUID is missing (insecure browser origins)', () => {
    const original = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
    const real = globalThis.crypto;
    Object.defineProperty(globalThis, 'crypto', {
      configurable: true,
      value: { getRandomValues: <T extends ArrayBufferView>(array: T) => real.getRandomValues(array as never) as T },
    });
    try {
      const tokens = new Set(Array.from({ length: 50 }, () => generateToken()));
      expect(tokens.size).toBe(50);
      for (const token of tokens) expect(token).toMatch(UUID_V4);
    } finally {
      Object.defineProperty(globalThis, 'crypto', original);
    }
  });

  it('recognises UUIDs only', () => {
    expect(isToken('3f2b8c1e-9d4a-4c5b-8e7f-1a2b3c4d5e6f')).toBe(true);
    expect(isToken('not-a-token')).toBe(false);
    expect(isToken('')).toBe(false);
    expect(isToken(undefined)).toBe(false);
  });
});

describe('TokenStore', () => {
  const scope = globalThis as { sessionStorage?: unknown; window?: unknown };
  /** What a browser tab has: a window and its sessionStorage. */
  const asPage = (sessionStorage: unknown) => {
    scope.window = globalThis;
    scope.sessionStorage = sessionStorage;
  };
  afterEach(() => {
    delete scope.sessionStorage;
    delete scope.window;
  });

  it("keeps the token in memory in Node, whose own sessionStorage (Node 25 and later) is the whole process's, not a tab's", () => {
    const nodeSessionStorage = new MapStorage();
    scope.sessionStorage = nodeSessionStorage;
    expect(defaultTokenStorage()).toBeUndefined();
    const first = new TokenStore();
    const second = new TokenStore();
    expect([first.persistent, second.persistent]).toEqual([false, false]);
    // Two clients in one process are two tabs: with the process's storage they took one token, the server saw one tab twice.
    expect(second.token).not.toBe(first.token);
    expect(nodeSessionStorage.writes).toBe(0);
  });

  it('generates a UUID and keeps it in memory in Node (no sessionStorage)', () => {
    expect(defaultTokenStorage()).toBeUndefined();
    const store = new TokenStore();
    expect(store.token).toMatch(UUID_V4);
    expect(store.persistent).toBe(false);
  });

  it('uses a token given explicitly, even over a stored one, and stores it', () => {
    const storage = new MapStorage();
    storage.items.set('token', '11111111-1111-4111-8111-111111111111');
    const store = new TokenStore({ token: '22222222-2222-4222-8222-222222222222', storage });
    expect(store.token).toBe('22222222-2222-4222-8222-222222222222');
    expect(storage.items.get('token')).toBe('22222222-2222-4222-8222-222222222222');
  });

  it('reuses a valid stored token without rewriting it', () => {
    const storage = new MapStorage();
    storage.items.set('token', '11111111-1111-4111-8111-111111111111');
    const store = new TokenStore({ storage });
    expect(store.token).toBe('11111111-1111-4111-8111-111111111111');
    expect(storage.writes).toBe(0);
  });

  it('replaces a stored value that is not a UUID', () => {
    const storage = new MapStorage();
    storage.items.set('token', 'garbage');
    const store = new TokenStore({ storage });
    expect(store.token).toMatch(UUID_V4);
    expect(storage.items.get('token')).toBe(store.token);
  });

  it("keeps, on the next page load, a replacement token the server gave that is not a UUID (any 8 to 128 URL-safe characters a server takes)", () => {
    const storage = new MapStorage();
    new TokenStore({ storage }).replace('tab_0123456789abcdefXYZ');
    // Before, the stored token was taken for garbage and a new UUID made: a reload lost the tab's state.
    expect(new TokenStore({ storage }).token).toBe('tab_0123456789abcdefXYZ');
    for (const bad of ['short', 'x'.repeat(129), 'has space 123', 'a&token=b-1234567']) {
      storage.items.set('token', bad);
      expect(new TokenStore({ storage }).token).toMatch(UUID_V4);
    }
  });

  it('persists a replacement (new_token) and reports whether it changed', () => {
    const storage = new MapStorage();
    const store = new TokenStore({ storage });
    const first = store.token;
    expect(storage.items.get('token')).toBe(first);
    expect(store.replace('33333333-3333-4333-8333-333333333333')).toBe(true);
    expect(store.token).toBe('33333333-3333-4333-8333-333333333333');
    expect(storage.items.get('token')).toBe('33333333-3333-4333-8333-333333333333');
    expect(store.replace('33333333-3333-4333-8333-333333333333')).toBe(false);
    expect(() => store.replace('')).toThrow(TypeError);
  });

  it('uses browser sessionStorage under the key "token" by default', () => {
    const session = new MapStorage();
    session.items.set('token', '44444444-4444-4444-8444-444444444444');
    asPage(session);
    const store = new TokenStore();
    expect(store.persistent).toBe(true);
    expect(store.token).toBe('44444444-4444-4444-8444-444444444444');
    store.replace('55555555-5555-4555-8555-555555555555');
    expect(session.items.get('token')).toBe('55555555-5555-4555-8555-555555555555');
  });

  it('keeps the token in memory when storage is null, even in a browser', () => {
    const session = new MapStorage();
    asPage(session);
    const store = new TokenStore({ storage: null });
    expect(store.persistent).toBe(false);
    expect(session.writes).toBe(0);
  });

  it('falls back to memory when sessionStorage throws (blocked storage)', () => {
    scope.window = globalThis;
    Object.defineProperty(globalThis, 'sessionStorage', {
      configurable: true,
      get() {
        throw new Error('SecurityError');
      },
    });
    const store = new TokenStore();
    expect(store.persistent).toBe(false);
    expect(store.token).toMatch(UUID_V4);
  });

  it('still changes the token when writing to storage fails', () => {
    const storage: TokenStorage = {
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    const store = new TokenStore({ storage });
    store.replace('66666666-6666-4666-8666-666666666666');
    expect(store.token).toBe('66666666-6666-4666-8666-666666666666');
  });
});

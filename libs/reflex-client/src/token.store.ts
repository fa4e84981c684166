import { pageGlobals } from './page-globals.js';
import { TOKEN_STORAGE_KEY } from './protocol.constants.js';
import { generateToken, isHandshakeToken } from './token.generator.js';

/**
 * Where the client keeps its token between page loads: the part of the Web Storage API it needs, so a
 * browser `sessionStorage` (the default there) or any object with the same two methods fits.
 */
export interface TokenStorage {
  /** The stored value, or `null` when there is none. */
  getItem(key: string): string | null;
  /** Stores a value. */
  setItem(key: string, value: string): void;
}

/** Options of {@link TokenStore}. */
export interface TokenStoreOptions {
  /** A token to start with. It wins over a stored one and is stored. */
  token?: string;
  /**
   * Where the token is persisted. Defaults to the browser's `sessionStorage` when it exists and is usable
   * (a per-tab token, as in Reflex); otherwise (Node, or storage blocked) the token lives in memory only.
   * Pass `null` to keep it in memory even in a browser.
   */
  storage?: TokenStorage | null;
  /** Storage key. @default 'token' */
  key?: string;
}

/**
 * The browser's `sessionStorage`, when present and working; `undefined` in Node (whose own `sessionStorage`, from Node 25,
 * is one for the whole process: see {@link pageGlobals}) or when access is blocked.
 */
export function defaultTokenStorage(): TokenStorage | undefined {
  try {
    const storage = pageGlobals<{ sessionStorage?: TokenStorage }>()?.sessionStorage;
    if (!storage || typeof storage.getItem !== 'function' || typeof storage.setItem !== 'function') return undefined;
    storage.getItem(TOKEN_STORAGE_KEY); // Throws when storage is disabled (privacy settings, sandboxed frames).
    return storage;
  } catch {
    return undefined;
  }
}

/**
 * Holds the client token (a per-tab UUID the server keys the state by) and persists it.
 *
 * The starting token is, in order: the `token` option, a valid token found in storage, or a new random UUID.
 * A value in storage that no server would take back in a handshake (not 8 to 128 URL-safe characters) is replaced. The in-memory copy is the source of truth: if writing to
 * storage fails (quota, privacy mode) the token still changes.
 */
export class TokenStore {
  private current: string;
  private readonly storage: TokenStorage | undefined;
  private readonly key: string;

  constructor(options: TokenStoreOptions = {}) {
    this.storage = options.storage === null ? undefined : (options.storage ?? defaultTokenStorage());
    this.key = options.key ?? TOKEN_STORAGE_KEY;
    const stored = this.read();
    // Not only a UUID: a server's `new_token` of another shape was stored, and the next page load must keep it.
    this.current = options.token ?? (isHandshakeToken(stored) ? stored : generateToken());
    if (this.current !== stored) this.write(this.current);
  }

  /** The token to send in the next connection's query. */
  get token(): string {
    return this.current;
  }

  /** True when the token is written to a storage and not only kept in memory. */
  get persistent(): boolean {
    return this.storage !== undefined;
  }

  /**
   * Replaces the token (the server's `new_token`) and persists it.
   * @returns `true` when the token changed, `false` when `token` equals the current one.
   * @throws TypeError when `token` is not a non-empty string.
   */
  replace(token: string): boolean {
    if (typeof token !== 'string' || token.length === 0) throw new TypeError('A client token must be a non-empty string.');
    if (token === this.current) return false;
    this.current = token;
    this.write(token);
    return true;
  }

  /**
   * Writes the current token back to the storage when the storage no longer holds it: a page script or the server
   * (Reflex's `_clear_session_storage`) cleared it, and the next page load would otherwise start a new token and
   * lose the tab's state.
   */
  persist(): void {
    if (this.read() !== this.current) this.write(this.current);
  }

  private read(): string | null {
    try {
      return this.storage?.getItem(this.key) ?? null;
    } catch {
      return null;
    }
  }

  private write(token: string): void {
    try {
      this.storage?.setItem(this.key, token);
    } catch {
      // Storage full or blocked: the in-memory token is still used.
    }
  }
}

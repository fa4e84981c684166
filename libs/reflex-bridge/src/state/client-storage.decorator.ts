import 'reflect-metadata';

/** Options of {@link Cookie}: Reflex's `rx.Cookie` options, with the names its client passes to the cookie library. */
export interface CookieOptions {
  /** The cookie's name in the browser. @default the var's wire name, `<full state name>.<var>_rx_state_` */
  name?: string;
  /** The cookie's path. @default '/' */
  path?: string;
  /** Lifetime in seconds from when the browser receives it. @default none (a session cookie) */
  maxAge?: number;
  /** The cookie's domain (`sub.example.com`, `.example.com`). @default none (this host) */
  domain?: string;
  /** Sent over HTTPS only. @default none (the browser's default) */
  secure?: boolean;
  /** Whether the cookie goes with cross-site requests. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | boolean;
}

/** Options of {@link LocalStorage}: Reflex's `rx.LocalStorage` options. */
export interface LocalStorageOptions {
  /** The `localStorage` key. @default the var's wire name, `<full state name>.<var>_rx_state_` */
  name?: string;
  /** Send a change made in another tab to the server at once (the client listens to `storage` events). @default false */
  sync?: boolean;
}

/** Options of {@link SessionStorage}: Reflex's `rx.SessionStorage` options. */
export interface SessionStorageOptions {
  /** The `sessionStorage` key. @default the var's wire name, `<full state name>.<var>_rx_state_` */
  name?: string;
}

/** Where a client storage var lives in the browser, named as in the client storage map of a Reflex frontend. */
export type ClientStorageKind = 'cookies' | 'local_storage' | 'session_storage';

/** One var's client storage declaration, with Reflex's defaults filled in. */
export interface ClientStorageDeclaration {
  readonly kind: ClientStorageKind;
  readonly options: Readonly<CookieOptions | LocalStorageOptions | SessionStorageOptions>;
}

const CLIENT_STORAGE = Symbol('reflex-bridge:client-storage');

function declare(kind: ClientStorageKind, decorator: string, options: object): PropertyDecorator {
  return (target, propertyKey) => {
    if (typeof propertyKey !== 'string') throw new Error(`@${decorator} belongs on a state field with a string name`);
    const own: Record<string, ClientStorageDeclaration> = Reflect.hasOwnMetadata(CLIENT_STORAGE, target)
      ? (Reflect.getOwnMetadata(CLIENT_STORAGE, target) as Record<string, ClientStorageDeclaration>)
      : { ...((Reflect.getMetadata(CLIENT_STORAGE, target) as Record<string, ClientStorageDeclaration> | undefined) ?? {}) };
    if (Object.hasOwn(own, propertyKey) && Reflect.hasOwnMetadata(CLIENT_STORAGE, target)) {
      throw new Error(`${propertyKey} has two client storage decorators; a var lives in one place`);
    }
    // Undefined options are left out, as Reflex leaves out `None`: the client then uses the browser's default.
    const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    own[propertyKey] = Object.freeze({ kind, options: Object.freeze(defined) });
    Reflect.defineMetadata(CLIENT_STORAGE, own, target);
  };
}

/**
 * Keeps this var in a browser cookie, like Reflex's `rx.Cookie`: the client sends the cookie's value when the
 * page loads (`update_vars_internal`, after `hydrate`), and writes the cookie whenever the var changes. The var
 * must be a string var (a `string` initial value); the initial value is never written to the browser.
 * It is client input, set by page scripts: never base an authorisation on it (it is not HttpOnly).
 * @example
 * ```ts
 * @Cookie({ name: 'theme', maxAge: 30 * 24 * 3600, sameSite: 'strict' }) theme = 'light';
 * ```
 * @publicApi
 */
export function Cookie(options: CookieOptions = {}): PropertyDecorator {
  return declare('cookies', 'Cookie', { path: '/', sameSite: 'lax', ...options });
}

/**
 * Keeps this var in the browser's `localStorage`, like Reflex's `rx.LocalStorage`: shared by every tab of the
 * site, sent by the client when a page loads, written by the client whenever the var changes. With
 * `sync: true` a change in one tab reaches the server state of the other open tabs at once. The var must be a
 * string var; it is client input.
 * @example
 * ```ts
 * @LocalStorage({ sync: true }) category = '';
 * ```
 * @publicApi
 */
export function LocalStorage(options: LocalStorageOptions = {}): PropertyDecorator {
  return declare('local_storage', 'LocalStorage', { sync: false, ...options });
}

/**
 * Keeps this var in the browser's `sessionStorage`, like Reflex's `rx.SessionStorage`: one tab's storage,
 * kept across reloads of that tab. The var must be a string var; it is client input.
 * @example
 * ```ts
 * @SessionStorage({ name: 'draft' }) draft = '';
 * ```
 * @publicApi
 */
export function SessionStorage(options: SessionStorageOptions = {}): PropertyDecorator {
  return declare('session_storage', 'SessionStorage', options);
}

/** The client storage declarations of a state class (own and inherited), by var name. */
export function getClientStorage(cls: { prototype: object }): Readonly<Record<string, ClientStorageDeclaration>> {
  return (Reflect.getMetadata(CLIENT_STORAGE, cls.prototype) as Record<string, ClientStorageDeclaration> | undefined) ?? {};
}

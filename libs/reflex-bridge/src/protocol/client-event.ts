/**
 * An event sent to the client in an outbound `{events: [...]}` update. Reflex clients run names starting
 * with `_` themselves (`_redirect`, `_call_function`, ...).
 */
export interface ClientEvent {
  name: string;
  payload: Record<string, unknown>;
  router_data?: Record<string, unknown>;
}

/**
 * A follow-up event a handler asks the server to run after it finishes, on the same client's queue
 * (Reflex's server-side event chaining).
 */
export interface ServerEvent {
  readonly kind: 'server';
  /** Full handler name, or a state class and method resolved at dispatch. */
  readonly target: string | { state: abstract new (...args: never[]) => object; method: string };
  readonly payload: Record<string, unknown>;
}

/** Options of {@link redirect}. */
export interface RedirectOptions {
  /** Open in a new window (`external` in Reflex). @default false */
  external?: boolean;
  /** Open as a popup. @default false */
  popup?: boolean;
  /** Replace the current history entry instead of pushing one. @default false */
  replace?: boolean;
}

/**
 * Tells the client to navigate to `path` (Reflex's `rx.redirect`). Return or yield it from a handler.
 * @example
 * ```ts
 * @EventHandler()
 * checkout() { return redirect('/checkout'); }
 * ```
 * @publicApi
 */
export function redirect(path: string, options: RedirectOptions = {}): ClientEvent {
  assertNavigable(path);
  return {
    name: '_redirect',
    payload: { path, external: options.external ?? false, popup: options.popup ?? false, replace: options.replace ?? false },
  };
}

/**
 * Refuses a redirect target `state.js` would run rather than navigate to: it hands absolute URLs to
 * `window.location.assign` / `window.open`, so a `javascript:` or `data:` URL (often built from a `?next=`
 * parameter) would run in the page. Paths and http(s) URLs pass.
 */
function assertNavigable(path: string): void {
  if (typeof path !== 'string') throw new TypeError('redirect(path): path must be a string');
  let protocol: string | undefined;
  try {
    protocol = new URL(path).protocol;
  } catch {
    return; // Not an absolute URL: a path, navigated to inside the app.
  }
  if (protocol !== 'http:' && protocol !== 'https:' && protocol !== 'mailto:' && protocol !== 'tel:') {
    throw new TypeError(`redirect(path): refusing a ${protocol} URL; redirect to a path or an http(s) URL`);
  }
}

/**
 * Asks the server to run another handler for the same client after the current one (and anything already
 * queued) finishes. Return or yield it from a handler.
 * @example
 * ```ts
 * @EventHandler()
 * save() { return serverEvent(CartState, 'reload'); }
 * ```
 * @publicApi
 */
export function serverEvent(
  state: abstract new (...args: never[]) => object,
  method: string,
  payload: Record<string, unknown> = {},
): ServerEvent {
  return { kind: 'server', target: { state, method }, payload };
}

/** True for a {@link ServerEvent}. */
export function isServerEvent(value: unknown): value is ServerEvent {
  return typeof value === 'object' && value !== null && (value as ServerEvent).kind === 'server';
}

/** True for a {@link ClientEvent}. */
export function isClientEvent(value: unknown): value is ClientEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ClientEvent).name === 'string' &&
    (value as ClientEvent).name.startsWith('_') &&
    typeof (value as ClientEvent).payload === 'object'
  );
}

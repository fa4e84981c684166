import { jsString, jsValue } from './js-literal.js';

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

/** Options of {@link callFunction} and {@link callScript}. */
export interface ScriptOptions {
  /**
   * JavaScript source of a function the client calls with the script's result (awaited when it is a promise),
   * as Reflex's `callback`. It is evaluated in the client's scope: keep it to code you wrote, never data.
   * @default null (no callback)
   */
  callback?: string | null;
}

function requireSource(what: string, source: unknown): string {
  if (typeof source !== 'string' || source.trim().length === 0) throw new TypeError(`${what}: expected JavaScript source text, got ${typeof source}`);
  return source;
}

/**
 * Runs a JavaScript function in the browser (Reflex's `rx.call_function`): `source` is the source text of a
 * function taking no arguments, e.g. `'() => window.scrollTo(0, 0)'`, which the client evaluates and calls.
 * Frame: `_call_function {function, callback}`.
 *
 * The source is evaluated as code: never build it by concatenating data. Put data in with {@link jsString} /
 * {@link jsValue}, or use the helpers that do it for you ({@link windowAlert}, {@link toast}, {@link consoleLog}).
 * @example
 * ```ts
 * @EventHandler()
 * top() { return callFunction('() => window.scrollTo(0, 0)'); }
 * ```
 * @publicApi
 */
export function callFunction(source: string, options: ScriptOptions = {}): ClientEvent {
  return { name: '_call_function', payload: { function: requireSource('callFunction', source), callback: options.callback ?? null } };
}

/**
 * Evaluates a JavaScript expression in the browser (Reflex's `rx.run_script`): the client calls
 * `() => (<expression>)`. Frame: `_call_function {function, callback}`. For statements, use
 * {@link callScript} or a {@link callFunction} with a block body. Same caution as {@link callFunction}: code only,
 * data through {@link jsString} / {@link jsValue}.
 * @example
 * ```ts
 * @EventHandler()
 * print() { return runScript('window.print()'); }
 * ```
 * @publicApi
 */
export function runScript(expression: string, options: ScriptOptions = {}): ClientEvent {
  // On lines of their own: a trailing `//` comment in the expression cannot swallow the closing parentheses.
  return callFunction(`(() => (\n${requireSource('runScript', expression)}\n))`, options);
}

/**
 * Evaluates JavaScript source in the browser as it is (Reflex's `rx.call_script`): statements are allowed.
 * Frame: `_call_script {javascript_code, callback}`. Same caution as {@link callFunction}.
 * @example
 * ```ts
 * @EventHandler()
 * reset() { return callScript('document.forms[0].reset()'); }
 * ```
 * @publicApi
 */
export function callScript(source: string, options: ScriptOptions = {}): ClientEvent {
  return { name: '_call_script', payload: { javascript_code: requireSource('callScript', source), callback: options.callback ?? null } };
}

/**
 * Writes `message` to the browser's console (`console.log`, Reflex's `rx.console_log`). The message is data:
 * any text is safe. Frame: `_call_function`.
 * @example
 * ```ts
 * @EventHandler()
 * saved() { return consoleLog('cart saved'); }
 * ```
 * @publicApi
 */
export function consoleLog(message: string): ClientEvent {
  return callFunction(`(() => (console.log(${jsString(message)})))`);
}

/**
 * Shows `message` in a browser alert (`window.alert`, Reflex's `rx.window_alert`). The message is data: any text
 * is safe. Frame: `_call_function`.
 * @example
 * ```ts
 * @EventHandler()
 * warn() { return windowAlert('Your session ends in 5 minutes.'); }
 * ```
 * @publicApi
 */
export function windowAlert(message: string): ClientEvent {
  return callFunction(`(() => (window.alert(${jsString(message)})))`);
}

/** The kinds of toast Reflex's toaster (sonner) shows: each is a method of its `toast` function. */
export type ToastLevel = 'success' | 'info' | 'warning' | 'error' | 'loading' | 'message';

/** Options of {@link toast}: the flags below, and sonner's toast options, passed through as data. */
export interface ToastOptions {
  /** The kind of toast. @default a plain toast */
  level?: ToastLevel;
  /** Without a toaster on the page (an app without Reflex's toast provider), show a `window.alert` instead. @default false */
  fallbackToAlert?: boolean;
  /** A second line under the message. */
  description?: string;
  /** Toasts with the same id replace each other instead of piling up. */
  id?: string;
  /** Milliseconds the toast stays. */
  duration?: number;
  /** Where the toast appears. */
  position?: 'top-left' | 'top-center' | 'top-right' | 'bottom-left' | 'bottom-center' | 'bottom-right';
  /** Show a close button. */
  closeButton?: boolean;
  /** Whether the user may dismiss it. */
  dismissible?: boolean;
  /** Inline style of the toast (camel-case CSS properties, or kebab-case as Reflex sends them). */
  style?: Record<string, string | number>;
  /** Further sonner options (data only: no functions). */
  [option: string]: unknown;
}

/**
 * Shows a toast as Reflex's `rx.toast` does: through Reflex's toaster on the page (`refs['__toast']`, set by the
 * toast provider every Reflex app includes by default), optionally falling back to `window.alert`. The message and
 * the options are data: any text is safe. Frame: `_call_function`.
 * @example
 * ```ts
 * @EventHandler()
 * added() { return toast('Added to your cart', { level: 'success', duration: 2000 }); }
 * ```
 * @publicApi
 */
export function toast(message: string, options: ToastOptions = {}): ClientEvent {
  const { level, fallbackToAlert, ...props } = options;
  const method = level ? `[${jsString(level)}]` : '';
  const args = Object.keys(props).length > 0 ? `${jsString(message)}, ${jsValue(props)}` : jsString(message);
  // `refs` is state.js's registry of component handles, in scope of the code it evaluates; `typeof` keeps the
  // source harmless where it is not.
  const toaster = 'typeof refs !== "undefined" && refs !== null && refs["__toast"]';
  const shown = `refs["__toast"]${method}(${args})`;
  if (!fallbackToAlert) return callFunction(`(() => (${toaster} ? ${shown} : undefined))`);
  const alertText = typeof props.description === 'string' && props.description ? `${message}\n${props.description}` : message;
  return callFunction(`(() => (${toaster} ? ${shown} : window.alert(${jsString(alertText)})))`);
}

/**
 * The name Reflex gives the handle of a component with id `id` (`ref_<id>`, runs of non-word characters
 * replaced by `_`): what `_set_focus`, `_blur_focus` and `_set_value` address.
 */
function formatRef(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('Expected the id of a component, a non-empty string.');
  return `ref_${id.replace(/[^\p{L}\p{N}_]+/gu, '_')}`;
}

/**
 * Moves the keyboard focus to the component with id `id` (Reflex's `rx.set_focus`). Frame: `_set_focus {ref}`.
 * @example
 * ```ts
 * @EventHandler()
 * edit() { return setFocus('name-input'); }
 * ```
 * @publicApi
 */
export function setFocus(id: string): ClientEvent {
  return { name: '_set_focus', payload: { ref: formatRef(id) } };
}

/**
 * Takes the keyboard focus away from the component with id `id` (Reflex's `rx.blur_focus`). Frame:
 * `_blur_focus {ref}`.
 * @example
 * ```ts
 * @EventHandler()
 * done() { return blurFocus('name-input'); }
 * ```
 * @publicApi
 */
export function blurFocus(id: string): ClientEvent {
  return { name: '_blur_focus', payload: { ref: formatRef(id) } };
}

/**
 * Sets the value of the (uncontrolled) input with id `id` (Reflex's `rx.set_value`). Frame: `_set_value {ref, value}`.
 * @example
 * ```ts
 * @EventHandler()
 * clear() { return setValue('search', ''); }
 * ```
 * @publicApi
 */
export function setValue(id: string, value: unknown): ClientEvent {
  return { name: '_set_value', payload: { ref: formatRef(id), value } };
}

/** Options of {@link download}. */
export interface DownloadOptions {
  /** The file name the browser saves under. @default the last segment of the URL (for data, none) */
  filename?: string;
}

/** Data to download as a file, sent inside a `data:` URL. */
export interface DownloadData {
  /** The content: text (UTF-8) or bytes. */
  data: string | Uint8Array;
  /** The file name the browser saves under. */
  filename?: string;
  /** The media type. @default 'text/plain' for text, 'application/octet-stream' for bytes */
  mimeType?: string;
}

/** URL schemes a download may use: a `javascript:` URL would run as code on click. */
const DOWNLOAD_SCHEMES = /^(?:https?|data|blob):/i;

function checkDownloadUrl(url: string): string {
  if (typeof url !== 'string' || url.length === 0) throw new TypeError('download: expected a URL');
  // state.js evaluates a download URL that contains this text as JavaScript (its upload-URL shortcut).
  if (/getBackendURL/i.test(url)) throw new TypeError('download: the URL may not contain "getBackendURL"');
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url.trim());
  if (scheme && !DOWNLOAD_SCHEMES.test(scheme[0])) throw new TypeError(`download: URLs with the scheme ${scheme[0]} are not downloads`);
  return url;
}

/**
 * Makes the browser download a file (Reflex's `rx.download`): from a URL (`download('/files/report.pdf')`), or
 * from data the handler made (`download({ data: csv, filename: 'cart.csv', mimeType: 'text/csv' })`). Frame:
 * `_download {url, filename}`. Only `http(s)`, `data` and `blob` URLs and paths are accepted.
 * @example
 * ```ts
 * @EventHandler()
 * exportCart() { return download({ data: this.toCsv(), filename: 'cart.csv', mimeType: 'text/csv' }); }
 * ```
 * @publicApi
 */
export function download(source: string | DownloadData, options: DownloadOptions = {}): ClientEvent {
  if (typeof source === 'string') {
    const url = checkDownloadUrl(source);
    const filename = options.filename ?? url.split(/[?#]/)[0]!.split('/').at(-1) ?? '';
    return { name: '_download', payload: { url, filename } };
  }
  const { data } = source;
  const text = typeof data === 'string';
  const mimeType = source.mimeType ?? (text ? 'text/plain' : 'application/octet-stream');
  if (/[;,\s]/.test(mimeType)) throw new TypeError('download: mimeType must be a media type such as "text/csv"');
  const base64 = Buffer.from(text ? Buffer.from(data, 'utf8') : data).toString('base64');
  return { name: '_download', payload: { url: `data:${mimeType};base64,${base64}`, filename: source.filename ?? options.filename ?? '' } };
}

/** Options of {@link removeCookie} (those of the `universal-cookie` package Reflex's client uses). */
export interface RemoveCookieOptions {
  /** @default '/' */
  path?: string;
  domain?: string;
  secure?: boolean;
  sameSite?: boolean | 'none' | 'lax' | 'strict';
}

/**
 * Removes a cookie in the browser (Reflex's `rx.remove_cookie`; an HttpOnly cookie cannot be removed from page
 * scripts: clear those in an HTTP response). A Reflex client then runs its hydrate sequence again. Frame:
 * `_remove_cookie {key, options}`.
 * @example
 * ```ts
 * @EventHandler()
 * forget() { return removeCookie('theme'); }
 * ```
 * @publicApi
 */
export function removeCookie(key: string, options: RemoveCookieOptions = {}): ClientEvent {
  return { name: '_remove_cookie', payload: { key, options: { ...options, path: options.path ?? '/' } } };
}

/**
 * Clears the browser's `localStorage` for the page's origin (Reflex's `rx.clear_local_storage`); a Reflex client
 * then hydrates again. Frame: `_clear_local_storage {}`.
 * @example
 * ```ts
 * @EventHandler()
 * reset() { return clearLocalStorage(); }
 * ```
 * @publicApi
 */
export function clearLocalStorage(): ClientEvent {
  return { name: '_clear_local_storage', payload: {} };
}

/**
 * Removes one `localStorage` key (Reflex's `rx.remove_local_storage`); a Reflex client then hydrates again.
 * Frame: `_remove_local_storage {key}`.
 * @example
 * ```ts
 * @EventHandler()
 * forgetCategory() { return removeLocalStorage('category'); }
 * ```
 * @publicApi
 */
export function removeLocalStorage(key: string): ClientEvent {
  return { name: '_remove_local_storage', payload: { key } };
}

/**
 * Clears the browser's `sessionStorage` for the tab (Reflex's `rx.clear_session_storage`); a Reflex client then
 * hydrates again. The tab keeps its client token (the client holds it in memory). Frame: `_clear_session_storage {}`.
 * @example
 * ```ts
 * @EventHandler()
 * reset() { return clearSessionStorage(); }
 * ```
 * @publicApi
 */
export function clearSessionStorage(): ClientEvent {
  return { name: '_clear_session_storage', payload: {} };
}

/**
 * Removes one `sessionStorage` key (Reflex's `rx.remove_session_storage`); a Reflex client then hydrates again.
 * Frame: `_remove_session_storage {key}`.
 * @example
 * ```ts
 * @EventHandler()
 * forgetDraft() { return removeSessionStorage('draft'); }
 * ```
 * @publicApi
 */
export function removeSessionStorage(key: string): ClientEvent {
  return { name: '_remove_session_storage', payload: { key } };
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

/**
 * The frontend events Reflex's client (`state.js`) runs itself. It sends any other name in `events` back to the
 * server as an event to run, so the server sends no other.
 */
export const REFLEX_CLIENT_EVENTS: ReadonlySet<string> = new Set([
  '_redirect',
  '_call_function',
  '_call_script',
  '_remove_cookie',
  '_clear_local_storage',
  '_remove_local_storage',
  '_clear_session_storage',
  '_remove_session_storage',
  '_download',
  '_set_focus',
  '_blur_focus',
  '_set_value',
]);

/** True for a {@link ClientEvent} a Reflex client runs (a name in {@link REFLEX_CLIENT_EVENTS}, an object payload). */
export function isClientEvent(value: unknown): value is ClientEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ClientEvent).name === 'string' &&
    REFLEX_CLIENT_EVENTS.has((value as ClientEvent).name) &&
    typeof (value as ClientEvent).payload === 'object' &&
    (value as ClientEvent).payload !== null
  );
}

import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import type { ClientEvent } from './client-event.types.js';
import type { ClientStorageMap } from './client-storage.js';
import type { FrameLimits } from './frame.limits.js';
import type { ReconnectOptions } from './reconnect.backoff.js';
import type { RedirectHandler } from './redirect.handler.js';
import type { TokenStorage } from './token.store.js';

/** Socket.IO options passed through to `io()`. The client always sets `reconnection`, `forceNew`, `autoConnect` and the `token` query itself. */
export type ReflexSocketOptions = Partial<ManagerOptions & SocketOptions> & {
  /**
   * In Node, the longest WebSocket frame `ws` reads, in bytes (Engine.IO hands it to `ws`; browsers ignore it).
   * @default 3 × (`frameLimits.maxChars` + 1): the most UTF-8 a message within `maxChars` takes
   */
  maxPayload?: number;
};

/** What a session cookie handoff needs besides its URL: the proof that this tab is the one whose event ran. */
export interface SessionCookieHandoff {
  /** The handoff's secret, received over this tab's socket. */
  secret: string;
  /** This tab's client token. */
  token: string;
  /** The request headers carrying both (`X-Reflex-Handoff`, `Reflex-Client-Token`). */
  headers: Record<string, string>;
}

/** Options of {@link ReflexClient}. */
export interface ReflexClientOptions {
  /**
   * Base URL of the server: scheme, host and port, e.g. `http://localhost:3000` (`http`, `https`, `ws` or `wss`).
   * The namespace is appended to it. In a browser it may be relative to the page (e.g. `/`).
   */
  url: string;
  /** Engine.IO path of the event channel. @default '/_event' */
  path?: string;
  /** Socket.IO namespace of the event channel. @default the `path` value (Reflex uses the same string for both) */
  namespace?: string;
  /**
   * Client token (a UUID) to use. Defaults to the token in `storage`, or a new random UUID.
   * The server may replace it (`new_token`); read the current one from `client.token`.
   */
  token?: string;
  /**
   * Where the token is persisted. Defaults to `sessionStorage` in browsers (key `token`) and to memory in Node.
   * `null` keeps it in memory only.
   */
  storage?: TokenStorage | null;
  /**
   * Page the client reports in `router_data` (path with optional query and hash, e.g. `/posts/42?x=1`).
   * Defaults to the browser's `location`, or `/` in Node. See also `client.navigate()`.
   */
  page?: string;
  /**
   * Called for every `_redirect` event. Defaults in browsers to navigating with `location.assign()` /
   * `location.replace()` (or `window.open()` for external and popup redirects); in Node there is no default.
   * A redirect to a `javascript:`, `data:` or `vbscript:` URL never reaches it (the default also ignores other
   * schemes than `http(s)`). Redirects also reach `client.onClientEvent()` listeners either way, unfiltered.
   */
  onRedirect?: RedirectHandler;
  /**
   * Called for every frontend event the client does not complete itself: `_call_function` and `_call_script`
   * (the client never evaluates the JavaScript source they carry), the DOM events `_set_focus`, `_blur_focus`,
   * `_set_value` and `_download` (the client knows no components), and the storage events `_remove_cookie`,
   * `_clear_local_storage`, `_remove_local_storage`, `_clear_session_storage`, `_remove_session_storage` (in a
   * browser the client has already applied those to the page's storage and runs the hydrate sequence again, as
   * Reflex's client does: once per update, after its other events, however many storage events it held). Not
   * called for `_redirect` (see `onRedirect`), the session cookie handoff (the client redeems it) or a toast/alert
   * that only presents an error (see `onError`). `client.onClientEvent()` listeners
   * receive every frontend event.
   */
  onClientEvent?: (event: ClientEvent) => void;
  /**
   * Completes a login or logout that happened in an event handler: the server sends a `_call_function` event
   * carrying `bridge_session_cookie: {url, secret}` (older servers: `_bridge_session_cookie {url, secret}`), and
   * the client (without evaluating the function) POSTs to that URL, credentials included, with the
   * headers `X-Reflex-Handoff: <secret>` and `Reflex-Client-Token: <token>`, to receive the new HttpOnly session
   * cookie. The server refuses the POST without those headers. Pass a function to do it yourself (send
   * `handoff.headers`), or `false` to skip it.
   * @default `fetch(url, { method: 'POST', credentials: 'include', headers: handoff.headers })` against the server's
   * origin; a non-2xx answer is reported to `onConnectionError` listeners
   */
  sessionCookieHandoff?: ((url: string, handoff: SessionCookieHandoff) => Promise<unknown>) | false;
  /**
   * The client storage vars of the app (the server's `ClientStorageVars.map()`, or a Reflex frontend's compiled
   * `clientStorage`). When the page loads (each hydration and `navigate()`), the values the browser holds are sent
   * in `update_vars_internal` before `on_load_internal`; a delta that changes such a var writes it to its cookie
   * or storage key; a change another tab makes to a `sync` localStorage var is sent at once. In Node nothing is
   * read or written.
   * @default none
   */
  clientStorage?: ClientStorageMap;
  /**
   * Bounds on the server's socket messages: longer than `maxChars` (checked before parsing), nested deeper than
   * `maxDepth`, or an update with more than `maxEvents` events. A message past one is dropped whole and reported to
   * `onConnectionError` listeners as `frame_too_large`; the connection stays open. The updates of an upload's
   * answer are held to `maxDepth` and `maxEvents` too. A custom `socketOptions.parser` replaces the `maxChars` check.
   * In Node, a WebSocket frame longer than `3 × (maxChars + 1)` bytes (the most UTF-8 a message within `maxChars`
   * takes) is not read: the connection ends (`disconnect`) and the client reconnects; `socketOptions.maxPayload`
   * overrides that bound.
   * @default `{ maxChars: 16 Mi, maxDepth: 256, maxEvents: 100 }`
   */
  frameLimits?: FrameLimits;
  /**
   * Most events held while the connection is not open (sent by the app, or asked for by the server in an update,
   * as a buffered upload's answer can while the socket is down). One more is not queued: it is reported to
   * `onConnectionError` listeners as `queue_full` (once until the queue has room again) and counted in
   * `client.droppedEvents`. Reflex's own client queues without limit; a tab that stays offline, or a server that asks
   * for an event per line of a long upload answer, would otherwise grow the queue (and the burst sent on reconnect)
   * for good.
   * @default 1000
   */
  maxQueuedEvents?: number;
  /**
   * Most characters of events held while the connection is not open, counted as their JSON (name and payload), with
   * the same refusal as `maxQueuedEvents` (`queue_full`). A count alone let a tab that queues large payloads offline
   * (a document saved on each edit) hold a thousand of them, a gigabyte at 1 MiB each; a server refuses events past
   * its `maxMessageBytes` (1 MB by default) anyway. An event longer than this is never queued.
   * @default 16777216 (16 Mi)
   */
  maxQueuedChars?: number;
  /**
   * Most updates an upload's answer keeps in `UploadResult.updates`: every line is applied as it arrives, and the
   * result holds the last `maxUploadUpdates` of them; `UploadResult.droppedUpdates` counts the earlier ones left out.
   * A handler that reports progress line by line would otherwise make the result hold its whole answer.
   * @default 1000
   */
  maxUploadUpdates?: number;
  /**
   * Longest upload answer accepted, in characters (bytes, in Node): past it the upload fails with
   * `answer_too_large` and its connection is closed. A browser's `XMLHttpRequest` holds the whole answer in memory
   * until it ends, so a server that never ends it (broken, or hostile) would otherwise grow the tab without bound.
   * An answer is one state update per line as the handler runs; it stays far below this unless its deltas are huge.
   * @default 67108864 (64 Mi)
   */
  maxUploadAnswerChars?: number;
  /** Reconnect policy, or `false` to never reconnect on its own. */
  reconnect?: ReconnectOptions | false;
  /**
   * How long `connect()` waits for the state to be hydrated before it rejects (kind `timeout`) and the client
   * disconnects. Also how long each reconnection may take to be ready: past it that socket is dropped, a `timeout`
   * is reported to `onConnectionError` listeners and the next attempt follows the reconnect policy (a server half up
   * after a restart would otherwise hold the client `reconnecting` for good). `0`, or more than a timer can wait
   * (2^31 - 1 ms, about 24.8 days; `Infinity` included), waits forever. @default 30000
   */
  connectTimeoutMs?: number;
  /**
   * Absolute URL of the upload endpoint `client.upload()` posts to (e.g. when a proxy serves it elsewhere).
   * @default the server's origin + the prefix of `path` before `/_event` + `/_upload` (`/api/_event` → `/api/_upload`)
   */
  uploadUrl?: string;
  /**
   * Extra Socket.IO client options (e.g. `transports`, `extraHeaders` in Node, `protocols`). In Node,
   * `extraHeaders` (a `Cookie`, an `Origin`) are sent with `client.upload()` requests too.
   */
  socketOptions?: ReflexSocketOptions;
}

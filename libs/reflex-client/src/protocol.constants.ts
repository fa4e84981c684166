/** Suffix Reflex appends to every var key in a delta (`FIELD_MARKER` in Reflex). */
export const FIELD_MARKER = '_rx_state_';

/** Full name of Reflex's root state (`reflex.state.State`). */
export const ROOT_STATE_NAME = 'reflex___state____state';

/**
 * The frontend event earlier ReflexBridge servers sent after an event changed the session cookie (payload
 * `{ url, secret }`). The client still redeems it.
 * @deprecated Servers now send a `_call_function` event (which Reflex's own client runs) whose payload carries
 * `{ url, secret }` under {@link SESSION_COOKIE_PAYLOAD_KEY}.
 */
export const SESSION_COOKIE_EVENT = '_bridge_session_cookie';

/**
 * Payload key of the `_call_function` event a ReflexBridge server sends after an event changed the session cookie
 * (login/logout): `{ url, secret }`. POST to `url` with {@link HANDOFF_SECRET_HEADER} set to `secret` and
 * {@link CLIENT_TOKEN_HEADER} set to the tab's token, credentials included. The client does it itself and never
 * evaluates the event's function (which does the same in a Reflex frontend).
 */
export const SESSION_COOKIE_PAYLOAD_KEY = 'bridge_session_cookie';

/**
 * Payload key under which each client event that presents an error (a toast, an alert) carries the structured
 * error (`BridgeErrorPayload`). The same error also arrives as a `bridge_error` message, which is what
 * `onError` listeners get.
 */
export const BRIDGE_ERROR_PAYLOAD_KEY = 'bridge_error';

/** Request header that carries a session cookie handoff's secret back to the server. */
export const HANDOFF_SECRET_HEADER = 'X-Reflex-Handoff';

/** Request header that carries the tab's client token on HTTP calls (the cookie handoff, Reflex uploads). */
export const CLIENT_TOKEN_HEADER = 'Reflex-Client-Token';

/** The root var that tells whether the hydrate sequence (and the page's on-load handlers) finished. */
export const IS_HYDRATED_KEY = `is_hydrated${FIELD_MARKER}`;

/** Handler the client calls first after every (re)connect; the server answers with the whole state tree. */
export const HYDRATE_EVENT = `${ROOT_STATE_NAME}.hydrate`;

/** Handler the client calls after `hydrate`; it runs the page's on-load handlers and sets `is_hydrated`. */
export const ON_LOAD_INTERNAL_EVENT = `${ROOT_STATE_NAME}.reflex___state____on_load_internal_state.on_load_internal`;

/**
 * Handler the client calls before `on_load_internal` when the browser holds values of client storage vars
 * (cookies, localStorage, sessionStorage), with `{ vars: { "<full state name>.<var>_rx_state_": value } }`.
 */
export const UPDATE_VARS_INTERNAL_EVENT = `${ROOT_STATE_NAME}.reflex___state____update_vars_internal_state.update_vars_internal`;

/** Default Engine.IO path, which is also the default Socket.IO namespace. */
export const DEFAULT_EVENT_PATH = '/_event';

/** Key under which the client token is kept in browser `sessionStorage` (the key Reflex uses). */
export const TOKEN_STORAGE_KEY = 'token';

/** Names of the socket messages of the Reflex event channel. */
export const SocketMessage = {
  /** Both directions: client → server an event to run; server → client a `StateUpdate`. */
  Event: 'event',
  /** Server → client: the token was replaced (the data is the new token string). */
  NewToken: 'new_token',
  /** Server → client: a structured error (`BridgeErrorPayload`). */
  BridgeError: 'bridge_error',
  /** Client → server: a frontend error report `{message, error_type}`. */
  ClientError: 'client_error',
  /** Both directions: liveness probe; the server answers a client `ping` with `ping` carrying `"pong"`. */
  Ping: 'ping',
  /**
   * Server → client, to a client whose handshake query carries {@link CLOSING_NOTICE_QUERY}: the server is shutting
   * down and closes this connection once the client answered {@link SocketMessage.ClosingAck}; send nothing more on it.
   */
  ServerClosing: 'server_closing',
  /** Client → server, after `server_closing`: everything the client sent on this connection came before it. */
  ClosingAck: 'closing_ack',
} as const;

/**
 * Handshake query parameter (`closing_notice=1`) with which the client asks a shutting-down server for
 * `server_closing` before its connection is closed, so that no event on its way is lost.
 */
export const CLOSING_NOTICE_QUERY = 'closing_notice';

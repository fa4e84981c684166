/**
 * An event inside a server → client `StateUpdate.events` list. Names starting with `_` are frontend events
 * (`_redirect`, `_call_function`, storage and DOM events) that the client handles itself.
 */
export interface ClientEvent {
  /** Event name, e.g. `_redirect`. */
  name: string;
  /** Event arguments. */
  payload: Record<string, unknown>;
  /** Router data the server attached, usually empty for frontend events. */
  router_data?: Record<string, unknown>;
}

/** Navigation flags of a `_redirect` event (Reflex's `rx.redirect`). */
export interface RedirectOptions {
  /** Open in a new window. */
  external: boolean;
  /** Open as a popup window. */
  popup: boolean;
  /** Replace the current history entry instead of pushing one. */
  replace: boolean;
}

/** What the client tells the server about the page it is on (Reflex's `router_data`). */
export interface RouterData {
  /** Path of the page, without query string or hash, e.g. `/posts/42`. */
  pathname: string;
  /** Path as shown in the address bar, with query string and hash, e.g. `/posts/42?x=1#h`. */
  asPath: string;
  /** Query string parameters; a key given several times maps to an array of its values. */
  query: Record<string, string | string[]>;
}

/** A client → server `event` message. */
export interface OutboundEvent {
  /** Full handler name: `<full state name>.<handler>`, e.g. `reflex___state____state.counter_state.increment`. */
  name: string;
  /** Handler arguments keyed by parameter name. */
  payload: Record<string, unknown>;
  /** The page the client is on when the event is sent. */
  router_data: RouterData;
}

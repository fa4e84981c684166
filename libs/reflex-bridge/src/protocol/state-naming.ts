/** Suffix Reflex appends to every var key in a delta (`FIELD_MARKER`). @publicApi */
export const FIELD_MARKER = '_rx_state_';

/** Full name of Reflex's root state (`reflex.state.State`). @publicApi */
export const ROOT_STATE_NAME = 'reflex___state____state';

/** Name of the internal on-load substate, addressed by the client's hydrate sequence. */
export const ON_LOAD_INTERNAL_STATE = `${ROOT_STATE_NAME}.reflex___state____on_load_internal_state`;

/** Name of the internal client-storage substate. */
export const UPDATE_VARS_INTERNAL_STATE = `${ROOT_STATE_NAME}.reflex___state____update_vars_internal_state`;

/**
 * Reflex's `to_snake_case`: an underscore before each capitalised word, then lower case.
 * `CounterState` → `counter_state`, `HTTPFilter` → `http_filter`.
 */
export function toSnakeCase(text: string): string {
  return text
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z\d])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

/** The key a var takes in a delta: `<var>_rx_state_`. */
export function varKey(name: string): string {
  return name + FIELD_MARKER;
}

/** A state or var name as Reflex accepts it: a lower-case identifier of letters, digits and underscores. */
export function isValidStateName(name: string): boolean {
  return /^[a-z_][a-z0-9_]*$/.test(name);
}

/** Name of Reflex's internal substate receiving the browser's uncaught errors (`window.onerror`, unhandled rejections). */
export const FRONTEND_EXCEPTION_STATE = `${ROOT_STATE_NAME}.reflex___state____frontend_event_exception_state`;

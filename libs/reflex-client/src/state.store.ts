import { FIELD_MARKER } from './protocol.constants.js';
import type { Delta } from './state-update.types.js';

/** The public vars of one state: var names without the `_rx_state_` marker, mapped to their values. */
export type StateVars = Record<string, unknown>;

/**
 * Strips the `_rx_state_` marker from a delta key: `count_rx_state_` → `count`. Keys without the marker are
 * returned unchanged.
 */
export function stripFieldMarker(key: string): string {
  return key.endsWith(FIELD_MARKER) && key.length > FIELD_MARKER.length ? key.slice(0, -FIELD_MARKER.length) : key;
}

/** Sets an own enumerable property, even for a key such as `__proto__` (plain assignment would change the prototype). */
function defineValue(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The client's local copy of the server state, one entry per full state name.
 *
 * Follows the Reflex frontend: every state's delta object is shallow-merged into what the store holds for that
 * state (a var's new value replaces the old one as a whole; vars not in the delta keep their value). The raw
 * keys keep the `_rx_state_` marker; {@link StateStore.get} returns the public view without it.
 */
export class StateStore {
  /** Raw vars (marker included) per full state name. */
  private readonly raw = new Map<string, Record<string, unknown>>();

  /**
   * Merges a delta into the store.
   * @returns The full names of the states the delta touched, in delta order. Entries that are not objects are ignored.
   */
  apply(delta: Delta): string[] {
    const touched: string[] = [];
    for (const [stateName, vars] of Object.entries(delta)) {
      if (!isPlainRecord(vars)) continue;
      const current = this.raw.get(stateName) ?? {};
      const merged: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(current)) defineValue(merged, key, value);
      for (const [key, value] of Object.entries(vars)) defineValue(merged, key, value);
      this.raw.set(stateName, merged);
      touched.push(stateName);
    }
    return touched;
  }

  /**
   * The public vars of one state (marker stripped), as a fresh object the caller may keep or change,
   * or `undefined` when no delta has mentioned that state yet.
   */
  get<T extends StateVars = StateVars>(fullName: string): T | undefined {
    const raw = this.raw.get(fullName);
    if (!raw) return undefined;
    const view: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) defineValue(view, stripFieldMarker(key), value);
    return view as T;
  }

  /** The raw value of one var, looked up by its plain name (without marker). */
  getVar(fullName: string, varName: string): unknown {
    const raw = this.raw.get(fullName);
    const key = varName + FIELD_MARKER;
    return raw && Object.hasOwn(raw, key) ? raw[key] : undefined;
  }

  /** True once a delta has mentioned the state. */
  has(fullName: string): boolean {
    return this.raw.has(fullName);
  }

  /** Full names of all known states, in the order they first appeared. */
  names(): string[] {
    return [...this.raw.keys()];
  }

  /** The public view of every known state, keyed by full state name. */
  snapshot(): Record<string, StateVars> {
    const all: Record<string, StateVars> = {};
    for (const name of this.raw.keys()) defineValue(all, name, this.get(name));
    return all;
  }

  /** Forgets every state. */
  clear(): void {
    this.raw.clear();
  }
}

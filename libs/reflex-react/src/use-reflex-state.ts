import { useCallback, useRef, useSyncExternalStore } from 'react';
import type { StateVars } from '@reflex-bridge/client';
import { useReflexBinding } from './reflex.context.js';
import type { StateRef, VarsOf } from './state.ref.js';

/** What one component read of a state's vars, and the view it was given. */
interface ReadTracker {
  /** The vars the component read; `all` once it enumerated them (spread, `Object.keys`). */
  read: Set<string> | 'all';
  /** The vars the current view reads through: replaced by newer vars when none of the read ones changed. */
  holder: { vars: StateVars };
  /** The vars `holder` pointed at when the view was last handed out. */
  seen: StateVars | undefined;
  view: StateVars | undefined;
}

function unchanged(read: Set<string> | 'all', before: StateVars, after: StateVars): boolean {
  if (read === 'all') return before === after;
  for (const key of read) if (!Object.is(before[key], after[key])) return false;
  return true;
}

/** A read-only view of `holder.vars` that records which vars are read. */
function trackingView(tracker: ReadTracker, holder: { vars: StateVars }): StateVars {
  const readAll = (): void => {
    tracker.read = 'all';
  };
  return new Proxy({} as StateVars, {
    get(_target, key) {
      if (typeof key !== 'string') return undefined;
      if (tracker.read !== 'all') tracker.read.add(key);
      return Object.hasOwn(holder.vars, key) ? holder.vars[key] : undefined;
    },
    has(_target, key) {
      if (typeof key === 'string' && tracker.read !== 'all') tracker.read.add(key);
      return Object.hasOwn(holder.vars, key);
    },
    ownKeys() {
      readAll();
      return Reflect.ownKeys(holder.vars);
    },
    getOwnPropertyDescriptor(_target, key) {
      if (typeof key !== 'string' || !Object.hasOwn(holder.vars, key)) return undefined;
      if (tracker.read !== 'all') tracker.read.add(key);
      return { value: holder.vars[key], enumerable: true, configurable: true, writable: false };
    },
    set() {
      throw new TypeError('useReflexState(): the vars are read-only; change them on the server through an event handler.');
    },
    deleteProperty() {
      throw new TypeError('useReflexState(): the vars are read-only; change them on the server through an event handler.');
    },
  });
}

/**
 * The vars of a server state, or `undefined` until the server has sent that state (the first hydration).
 *
 * The component re-renders only when a var it read changed: reading `cart.count` does not re-render on a change
 * of `cart.lines` (spreading or enumerating the vars counts as reading them all). The object is read-only.
 * @example
 * ```ts
 * import { CartState } from './reflex-states.js'; // written by `reflex-bridge codegen`
 *
 * function CartBadge() {
 *   const cart = useReflexState(CartState);
 *   return cart ? `${cart.count} items` : 'Loading…';
 * }
 * ```
 */
export function useReflexState<S extends StateRef<object>>(state: S): Readonly<VarsOf<S>> | undefined {
  const binding = useReflexBinding();
  const name = state.$state;
  const trackerRef = useRef<ReadTracker | null>(null);
  trackerRef.current ??= { read: new Set(), holder: { vars: {} }, seen: undefined, view: undefined };
  const tracker = trackerRef.current;
  const subscribe = useCallback((onChange: () => void) => binding.subscribeState(name, onChange), [binding, name]);
  const getSnapshot = useCallback((): StateVars | undefined => {
    const latest = binding.state(name);
    if (latest === tracker.seen) return tracker.view;
    if (latest && tracker.view && tracker.seen && unchanged(tracker.read, tracker.seen, latest)) {
      // Nothing this component read changed: keep its view (no re-render), reading through to the new vars.
      tracker.holder.vars = latest;
      tracker.seen = latest;
      return tracker.view;
    }
    tracker.seen = latest;
    if (!latest) {
      tracker.view = undefined;
      return undefined;
    }
    tracker.holder = { vars: latest };
    tracker.read = new Set();
    tracker.view = trackingView(tracker, tracker.holder);
    return tracker.view;
  }, [binding, name, tracker]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot) as Readonly<VarsOf<S>> | undefined;
}

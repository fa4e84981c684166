import { useCallback, useSyncExternalStore } from 'react';
import { useReflexBinding } from './reflex.context.js';
import type { StateRef, VarsOf } from './state.ref.js';

/**
 * One var of a server state, or `undefined` until the server has sent the state. Re-renders only when that
 * var's value changes (a delta that carries it).
 * @example
 * ```ts
 * import { CartState } from './reflex-states.js'; // written by `reflex-bridge codegen`
 *
 * function CartTotal() {
 *   return `${useReflexVar(CartState, 'total') ?? 0} €`;
 * }
 * ```
 */
export function useReflexVar<S extends StateRef<object>, K extends keyof VarsOf<S> & string>(state: S, name: K): VarsOf<S>[K] | undefined {
  const binding = useReflexBinding();
  const fullName = state.$state;
  const subscribe = useCallback((onChange: () => void) => binding.subscribeState(fullName, onChange), [binding, fullName]);
  const getSnapshot = useCallback(() => {
    const vars = binding.state(fullName);
    return vars && Object.hasOwn(vars, name) ? (vars[name] as VarsOf<S>[K]) : undefined;
  }, [binding, fullName, name]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

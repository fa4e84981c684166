import type { SaveOptions, StateLease, StoredState } from '../state/store/state-store.js';
import { ROOT_STATE_NAME } from '../protocol/state-naming.js';

/**
 * A client's state tree while an event runs on it: the tree as the event's steps commit it, and its size when the
 * state-size check knows it. The size belongs to the tree it was measured for (`measured`), so whatever replaces
 * `state` without measuring it (hydration, the session binding) leaves the size unknown rather than wrong.
 */
export interface StateTree {
  state: StoredState;
  /** The tree {@link bytes} is the size of, if any. */
  measured: StoredState | undefined;
  /** About how many bytes of JSON `measured` takes. */
  bytes: number;
}

/** The tree a lease holds, with the size its state was saved with when the store kept it. */
export function treeOf(lease: StateLease): StateTree {
  const state = lease.state ?? {};
  const bytes = lease.stateSize;
  return { state, measured: bytes === undefined ? undefined : state, bytes: bytes ?? 0 };
}

/** The size of the tree as it stands, or `undefined` when it was not measured. */
export function knownSize(tree: StateTree): number | undefined {
  return tree.measured === tree.state ? tree.bytes : undefined;
}

/** The save options that hand the tree's size to the store with it, when it is known. */
export function sizedSave(tree: StateTree): SaveOptions | undefined {
  return tree.measured === tree.state ? { stateSize: tree.bytes } : undefined;
}

/**
 * A new tree: `state` with the substate `fullName` replaced by `base` with `changes` written over it (copy on write:
 * the other substates are kept by reference). The copies are spreads, which keep a state of any size in V8's fast
 * mode (an object filled key by key turns into a hash table past about 16 keys); the changes and the new substate are
 * written after, one by one, not inside the literal nor with `Object.assign`, a builtin of its own that nothing else
 * on an event's path runs.
 */
export function nextTree(state: StoredState, fullName: string, base: Record<string, unknown>, changes: Record<string, unknown>): StoredState {
  const committed = { ...base };
  for (const name in changes) committed[name] = changes[name];
  const next = { ...state };
  next[fullName] = committed;
  return next;
}

/**
 * A tree that holds nothing a handler made (nothing, or only the root state hydration sets) is saved as provisional:
 * the store keeps it only briefly, so tokens that connect, hydrate and leave do not pin memory.
 */
export function isProvisional(state: StoredState): boolean {
  for (const name in state) if (name !== ROOT_STATE_NAME) return false;
  return true;
}

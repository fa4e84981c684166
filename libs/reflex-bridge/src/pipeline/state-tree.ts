import type { SaveOptions, StateLease, StoredState } from '../state/store/state-store.js';

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

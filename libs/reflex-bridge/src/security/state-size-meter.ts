import type { StoredState } from '../state/store/state-store.js';

/**
 * Measures a client's state tree in bytes of JSON, about, without serialising it on every event: states are
 * copy-on-write (an event replaces the substates and values it changed and keeps the others by reference), so
 * the size of each tree, substate and object value is remembered by identity and only new objects are measured;
 * a commit adjusts the previous tree's size by the changed values alone. An event next to a 10,000-row list
 * that it does not touch therefore measures only what it changed.
 *
 * Sizes are estimates (strings by length, numbers as 8 characters): close enough for a cap of megabytes, and
 * the same on every worker for the same state.
 */
export class StateSizeMeter {
  private readonly sizes = new WeakMap<object, number>();

  /** About how many bytes `state` takes as JSON. Measures only the substates and values not seen before. */
  sizeOf(state: StoredState): number {
    const known = this.sizes.get(state);
    if (known !== undefined) return known;
    let total = 2;
    for (const name in state) total += name.length + 4 + this.objectSize(state[name]);
    this.sizes.set(state, total);
    return total;
  }

  /**
   * About how many bytes `next` takes as JSON, where `next` is `previous` with substate `name` replaced by a
   * copy carrying `changes`: worked out from `previous`'s size and the changed values alone, so an event's
   * cost does not grow with the vars it left alone.
   */
  sizeOfCommit(previous: StoredState, next: StoredState, name: string, changes: Record<string, unknown>): number {
    const before = this.sizeOf(previous);
    const old = previous[name];
    const committed = next[name];
    let substate: number;
    let total: number;
    if (old === undefined) {
      substate = this.objectSize(committed);
      total = before + name.length + 4 + substate;
    } else {
      const oldSize = this.objectSize(old);
      substate = oldSize;
      for (const key in changes) {
        substate += this.valueSize(changes[key]) - (Object.hasOwn(old, key) ? this.valueSize(old[key]) : -(key.length + 4));
      }
      this.sizes.set(committed, substate);
      total = before - oldSize + substate;
    }
    this.sizes.set(next, total);
    return total;
  }

  private objectSize(value: object): number {
    const known = this.sizes.get(value);
    if (known !== undefined) return known;
    let size = 2;
    if (Array.isArray(value)) {
      for (const item of value) size += this.valueSize(item) + 1;
    } else {
      for (const key in value) size += key.length + 4 + this.valueSize((value as Record<string, unknown>)[key]);
    }
    this.sizes.set(value, size);
    return size;
  }

  private valueSize(value: unknown): number {
    switch (typeof value) {
      case 'string':
        return value.length + 2;
      case 'number':
      case 'bigint':
        return 8;
      case 'boolean':
        return 5;
      case 'object':
        return value === null ? 4 : this.objectSize(value);
      default:
        return 0;
    }
  }
}

import type { LiveListDefinition } from './live-list.decorator.js';
import type { ModelChange } from './model-change.js';

/**
 * The rows of live changes, computed once per scope instead of once per subscriber: a scope is one change, one
 * live list (so one state class's `liveRow`) and one subscriber user (`undefined` on a `none`-tier state, so
 * every subscriber of a public list shares one row). A change published to 10,000 subscribers of a public list
 * runs `liveRow` (often a database read) once, not 10,000 times.
 *
 * Entries live as long as the change does: the broadcaster hands every subscriber the same `ModelChange`, and
 * once the last one has applied it nothing holds it and its rows go with it.
 */
export class LiveRowCache {
  private readonly rows = new WeakMap<ModelChange, Map<LiveListDefinition, Map<unknown, unknown>>>();

  /**
   * The row for `change` in `list` as `user` sees it: `compute()`'s answer, computed by the first subscriber of
   * that scope to ask and shared (a promise too, and a rejection, which each subscriber then reports) with the
   * others.
   */
  rowOf(change: ModelChange, list: LiveListDefinition, user: unknown, compute: () => unknown): unknown {
    let byList = this.rows.get(change);
    if (!byList) this.rows.set(change, (byList = new Map()));
    let byUser = byList.get(list);
    if (!byUser) byList.set(list, (byUser = new Map()));
    if (byUser.has(user)) return byUser.get(user);
    const row = compute();
    byUser.set(user, row);
    return row;
  }
}

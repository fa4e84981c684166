import { ModelChange } from './model-change.js';

/** One change a replay applies: a recorded change, or a `created` standing for a row created within the replay. */
export interface ReplayStep {
  /** The change to apply (a recorded one, or a `created` made from the row's latest change). */
  readonly change: ModelChange;
  /** The recorded change whose row it applies: `change` itself, or the latest change of the row. */
  readonly source: ModelChange;
}

/**
 * The changes a late subscriber replays (see `LiveListSubscriptions`), cut to at most one row computation per
 * primary key, with the same final list as applying them all in order under the live-list rules (`deleted` and a
 * row out of scope remove by key, `created` appends unless paginated, a shown row is replaced by key).
 *
 * Replaying 1,000 changes of 50 rows called `liveRow` (a database read) 1,000 times per subscriber; it is called
 * once per row here. For each key (matched as the rules match, by `String(pk)`), with `k` its last removal:
 * - a removal and no `created` after it: that removal alone (the updates after it find no row to replace);
 * - a removal then a `created`: the removal, then at the first `created` after it a `created` carrying the latest
 *   change's data (the row is removed, then appended where the first creation put it, and replaced since);
 * - no removal, a `created`: that `created` with the latest data at its place (appended where it was first
 *   appended, or replaced in place when the list already showed it);
 * - only updates: the latest one.
 * Rows appended keep the order their creations gave them, whether the list is paginated or not.
 *
 * This needs each change of a row to give the same row, as `liveRow` does when it reads the row as it is now by
 * primary key (which is also what makes applying a change the list already has harmless). So:
 * - with `liveRow` (`rowsFromData` false), a removal is a `deleted`, and the row comes from the latest change;
 * - without it, a change's row is its `data`: the rows of one key are coalesced only when each of its changes but
 *   the `deleted` ones carries data (one without removes the row, and would not if the state had a `liveRow`
 *   after all, as an instance field); a key with such a change is replayed in full.
 * Keys are primary keys: a list that shows one key twice is not what this preserves.
 */
export function coalesceReplay(changes: readonly ModelChange[], rowsFromData: boolean): ReplayStep[] {
  const byKey = new Map<string, number[]>();
  for (let index = 0; index < changes.length; index += 1) {
    const key = String(changes[index]!.pk);
    let indexes = byKey.get(key);
    if (!indexes) byKey.set(key, (indexes = []));
    indexes.push(index);
  }
  // Each key's steps at the index of the change they stand for: keys never share an index, so this keeps the order.
  const steps: Array<ReplayStep | undefined> = new Array<ReplayStep | undefined>(changes.length);
  const step = (index: number, change = changes[index]!, source = change) => void (steps[index] = { change, source });
  for (const indexes of byKey.values()) {
    if (rowsFromData && indexes.some((index) => !changes[index]!.isDelete && changes[index]!.data === undefined)) {
      for (const index of indexes) step(index);
      continue;
    }
    let removal = -1;
    for (const index of indexes) if (changes[index]!.isDelete) removal = index;
    const latest = changes[indexes[indexes.length - 1]!]!;
    const created = indexes.find((index) => index > removal && changes[index]!.isCreate);
    if (removal >= 0) step(removal);
    if (created !== undefined) {
      const first = changes[created]!;
      // The row as the latest change gives it, appended (or replaced) where its first creation put it.
      step(created, first === latest ? first : new ModelChange(latest.modelLabel, 'created', latest.pk, latest.data, latest.origin), latest);
    } else if (removal < 0) {
      step(indexes[indexes.length - 1]!);
    }
  }
  return steps.filter((kept): kept is ReplayStep => kept !== undefined);
}

import { isThenable, type MaybePromise } from '../common/maybe-promise.js';
import { peekVar } from '../state/state-view.js';
import { jsonValue } from '../state/json-form.js';
import { ModelChange } from './model-change.js';
import type { LiveListDefinition } from './live-list.decorator.js';
import type { LiveRowCache } from './live-row.cache.js';

type Row = Record<string, unknown>;

interface LiveListState {
  liveRow?: (change: ModelChange, user: unknown) => unknown;
  liveReload?: (property: string, user: unknown) => unknown;
  applyLiveChange?: (change: ModelChange, property: string, user: unknown) => unknown;
  [property: string]: unknown;
}

/**
 * The list after `change`, given the list shown and the change's row as the subscriber's user sees it (`null` or
 * `undefined`: not visible to them). Returns `shown` itself when nothing changes. A pure function of its
 * arguments, so one answer serves every subscriber that showed the same list.
 */
export function listAfterChange(shown: readonly Row[], key: string, change: ModelChange, row: Row | null | undefined, paginated: boolean): readonly Row[] {
  const pk = String(change.pk);
  const index = shown.findIndex((existing) => String(existing[key]) === pk);
  const without = () => shown.filter((_, position) => position !== index);
  if (change.isDelete || !row) return index >= 0 ? without() : shown; // deleted, or no longer in this user's scope
  if (index >= 0) return shown.map((existing, position) => (position === index ? row : existing));
  return change.isCreate && !paginated ? [...shown, row] : shown;
}

/**
 * Applies one model change to one live list of a client's state view: created → insert the row (unless the
 * list is paginated), updated → replace the row if shown, deleted → remove it; a row the client's user may
 * no longer see (`liveRow` answers `undefined`) is removed. A state's own `applyLiveChange` wins.
 *
 * Completes synchronously when the row is at hand (no `liveRow`, or one that answers without a promise, or a
 * row another subscriber already computed): a fan-out to thousands of subscribers then makes no promise per
 * subscriber.
 *
 * With `rows`, the row is computed once per scope (change, list, user) and shared by the subscribers in it, and
 * so is the new list for subscribers that showed the same list. The list is read without a copy and replaced by
 * a new array, so the rows it keeps stay the same objects: nothing is copied or measured again per subscriber.
 */
export function applyLiveChange(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown, rows?: LiveRowCache): MaybePromise<void> {
  if (typeof state.applyLiveChange === 'function') {
    const applied = state.applyLiveChange(change, list.property, user);
    return isThenable(applied) ? Promise.resolve(applied).then(() => undefined) : undefined;
  }
  if (change.isDelete) return place(state, list, change, user, null, rows);
  const liveRow = state.liveRow;
  if (change.isRefetch) return refetch(state, list, change, user, rows);
  // An update of a row the list does not show leaves it as it is, whatever the row: no read for it. (A list shows
  // a few rows of a model whose other rows change too; and anyone who can write to the channel could otherwise make
  // every scope read a row per change.)
  if (change.isUpdate && !shows(state, list, change.pk)) return undefined;
  // Likewise a creation on a paginated page that does not show the row: it is not inserted, whatever the row.
  if (change.isCreate && isPaginated(state, list) && !shows(state, list, change.pk)) return undefined;
  // liveRow's row (often an entity: Date columns, a class) as JSON makes it, once per scope: the state would save it
  // so anyway (see jsonForm), and doing it here keeps one row object shared by every subscriber of the scope, where
  // the commit would copy the whole list once per subscriber. change.data is JSON already (transports carry JSON).
  const compute =
    typeof liveRow === 'function'
      ? () => {
          const computed = liveRow.call(state, change, user);
          return isThenable(computed) ? Promise.resolve(computed).then(jsonValue) : jsonValue(computed);
        }
      : () => change.data;
  const row = rows ? rows.rowOf(change, list, user, compute) : compute();
  if (isThenable(row)) return Promise.resolve(row).then((value) => place(state, list, change, user, value as Row | null | undefined, rows));
  return place(state, list, change, user, row as Row | null | undefined, rows);
}

/** Whether the list shows the row of primary key `pk` (matched as {@link listAfterChange} matches it). */
function shows(state: LiveListState, list: LiveListDefinition, pk: string | number): boolean {
  const key = String(pk);
  return ((peekVar(state, list.property) as Row[] | undefined) ?? []).some((row) => String(row[list.key]) === key);
}

function isPaginated(state: LiveListState, list: LiveListDefinition): boolean {
  return typeof list.paginated === 'function' ? list.paginated(state) : list.paginated;
}

function place(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown, row: Row | null | undefined, rows: LiveRowCache | undefined): void {
  const shown = (peekVar(state, list.property) as Row[] | undefined) ?? [];
  const paginated = change.isCreate && !!row && isPaginated(state, list);
  const compute = () => listAfterChange(shown, list.key, change, row, paginated);
  const next = rows ? rows.listAfter(change, list, user, shown, paginated, compute) : compute();
  if (next !== shown) state[list.property] = next;
}

/**
 * A `refetch` (rows of the model changed, which ones is unknown): the state's `liveReload(property, user)` runs the
 * list's query again, when it has one and answers a list; else (no `liveReload`, or it answered `undefined`) the rows
 * shown are read again through `liveRow` (see {@link refetchShown}).
 */
function refetch(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown, rows: LiveRowCache | undefined): MaybePromise<void> {
  const fallback = () => (typeof state.liveRow === 'function' ? refetchShown(state, list, change, user, state.liveRow, rows) : undefined);
  const liveReload = state.liveReload;
  if (typeof liveReload !== 'function') return fallback();
  // As JSON makes them, as liveRow's rows are (an entity's Date columns as ISO text): the state would save them so.
  const normalise = (answer: unknown): Row[] | undefined => {
    if (answer === undefined) return undefined;
    if (!Array.isArray(answer)) throw new TypeError(`liveReload("${list.property}") must answer an array of rows (or undefined to re-read the rows shown), got ${answer === null ? 'null' : typeof answer}`);
    return (jsonValue(answer) as unknown[]).filter((row): row is Row => row !== null && typeof row === 'object');
  };
  const reload = (): MaybePromise<Row[] | undefined> => {
    const answer = liveReload.call(state, list.property, user);
    return isThenable(answer) ? Promise.resolve(answer).then(normalise) : normalise(answer);
  };
  // Subscribers whose reload inputs the app says are equal share one run (and one list, so their later changes share
  // their results too); a refetch queued for one subscriber alone (see LiveRowCache.alone) shares nothing.
  const key = rows && list.reloadKey ? list.reloadKey(state) : undefined;
  const answer = rows && typeof key === 'string' ? (rows.reloadOf(change, list, user, key, reload) as MaybePromise<Row[] | undefined>) : reload();
  const settle = (reloaded: Row[] | undefined): MaybePromise<void> => {
    if (reloaded === undefined) return fallback();
    state[list.property] = reloaded;
    return undefined;
  };
  return isThenable(answer) ? Promise.resolve(answer).then(settle) : settle(answer);
}

/**
 * A `refetch` (rows changed, which ones is unknown): each shown row is read again through `liveRow`, as an
 * `updated` change of its key would, and replaced, or removed when `liveRow` no longer gives it. Rows not shown
 * are not found this way (a `created` change is published for inserts, with their keys). Without `liveRow` the
 * rows come from changes' `data`, which a refetch has none of: the list is left as it is.
 */
function refetchShown(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown, liveRow: NonNullable<LiveListState['liveRow']>, rows: LiveRowCache | undefined): MaybePromise<void> {
  const shown = (peekVar(state, list.property) as Row[] | undefined) ?? [];
  if (shown.length === 0) return undefined;
  // Shared by the scope's subscribers (see LiveRowCache.refetchedOf); a subscriber applying it alone reads alone.
  const byKey = rows ? rows.refetchedOf(change, list, user) : new Map<string, unknown>();
  const reads = shown.map((row) => {
    const pk = row[list.key];
    if (typeof pk !== 'string' && !(typeof pk === 'number' && Number.isFinite(pk))) return row; // not a key: kept as is
    const key = String(pk);
    if (byKey.has(key)) return byKey.get(key);
    const computed = liveRow.call(state, new ModelChange(change.modelLabel, 'updated', pk, undefined, change.origin), user);
    const read = isThenable(computed) ? Promise.resolve(computed).then(jsonValue) : jsonValue(computed);
    // A failed read is not kept: the next subscriber tries again.
    if (isThenable(read)) void read.then(undefined, () => byKey.delete(key));
    byKey.set(key, read);
    return read;
  });
  const settle = (rows: unknown[]) => {
    state[list.property] = rows.filter((row): row is Row => row !== null && row !== undefined && typeof row === 'object');
  };
  if (reads.some(isThenable)) return Promise.all(reads).then(settle);
  settle(reads);
  return undefined;
}

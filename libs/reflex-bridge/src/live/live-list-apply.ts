import { peekVar } from '../state/state-view.js';
import type { ModelChange } from './model-change.js';
import type { LiveListDefinition } from './live-list.decorator.js';
import type { LiveRowCache } from './live-row.cache.js';

type Row = Record<string, unknown>;

interface LiveListState {
  liveRow?: (change: ModelChange, user: unknown) => unknown;
  applyLiveChange?: (change: ModelChange, property: string, user: unknown) => unknown;
  [property: string]: unknown;
}

/**
 * Applies one model change to one live list of a client's state view: created → insert the row (unless the
 * list is paginated), updated → replace the row if shown, deleted → remove it; a row the client's user may
 * no longer see (`liveRow` answers `undefined`) is removed. A state's own `applyLiveChange` wins.
 *
 * With `rows`, the row is computed once per scope (change, list, user) and shared by the subscribers in it. The
 * list is read without a copy and replaced by a new array, so the rows it keeps stay the same objects: nothing
 * is copied or measured again per subscriber but the array itself.
 */
export async function applyLiveChange(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown, rows?: LiveRowCache): Promise<void> {
  if (typeof state.applyLiveChange === 'function') {
    await state.applyLiveChange(change, list.property, user);
    return;
  }
  const shown = (peekVar(state, list.property) as Row[] | undefined) ?? [];
  const pk = String(change.pk);
  const index = shown.findIndex((row) => String(row[list.key]) === pk);
  const without = () => shown.filter((_, position) => position !== index);
  if (change.isDelete) {
    if (index >= 0) state[list.property] = without();
    return;
  }
  const liveRow = state.liveRow;
  const compute = typeof liveRow === 'function' ? () => liveRow.call(state, change, user) : () => change.data;
  const row = (await (rows ? rows.rowOf(change, list, user, compute) : compute())) as Row | undefined | null;
  if (!row) {
    if (index >= 0) state[list.property] = without(); // no longer in this user's scope
    return;
  }
  if (index >= 0) {
    state[list.property] = shown.map((existing, position) => (position === index ? row : existing));
    return;
  }
  const paginated = typeof list.paginated === 'function' ? list.paginated(state) : list.paginated;
  if (change.isCreate && !paginated) state[list.property] = [...shown, row];
}

import type { ModelChange } from './model-change.js';
import type { LiveListDefinition } from './live-list.decorator.js';

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
 */
export async function applyLiveChange(state: LiveListState, list: LiveListDefinition, change: ModelChange, user: unknown): Promise<void> {
  if (typeof state.applyLiveChange === 'function') {
    await state.applyLiveChange(change, list.property, user);
    return;
  }
  const rows = (state[list.property] as Row[] | undefined) ?? [];
  const index = rows.findIndex((row) => String(row[list.key]) === String(change.pk));
  const without = () => rows.filter((_, position) => position !== index);
  if (change.isDelete) {
    if (index >= 0) state[list.property] = without();
    return;
  }
  const row = (typeof state.liveRow === 'function' ? await state.liveRow(change, user) : change.data) as Row | undefined | null;
  if (!row) {
    if (index >= 0) state[list.property] = without(); // no longer in this user's scope
    return;
  }
  if (index >= 0) {
    state[list.property] = rows.map((existing, position) => (position === index ? row : existing));
    return;
  }
  const paginated = typeof list.paginated === 'function' ? list.paginated(state) : list.paginated;
  if (change.isCreate && !paginated) state[list.property] = [...rows, row];
}

import { describe, expect, it } from '@jest/globals';
import type { LiveListDefinition } from './live-list.decorator.js';
import { LiveRowCache, MAX_CACHED_CHANGES, MAX_SHARED_RELOADS } from './live-row.cache.js';
import { ModelChange } from './model-change.js';

const LIST: LiveListDefinition = { property: 'rows', label: 'test.row', key: 'id', paginated: false };

describe('LiveRowCache', () => {
  it('shares what a change computed between the subscribers that apply it', () => {
    const cache = new LiveRowCache();
    const change = new ModelChange('test.row', 'updated', 1);
    let computed = 0;
    const row = () => ({ id: 1, n: ++computed });
    expect(cache.rowOf(change, LIST, undefined, row)).toBe(cache.rowOf(change, LIST, undefined, row));
    expect(computed).toBe(1);
    expect(cache.framesOf(change)).toBe(cache.framesOf(change));
  });

  it('keeps the results of the latest changes only: a change a stalled subscriber still holds does not keep its lists and frames', () => {
    const cache = new LiveRowCache();
    // A subscriber whose state is held keeps the changes waiting for it; every other subscriber applied them.
    const waiting = Array.from({ length: MAX_CACHED_CHANGES + 10 }, (_, pk) => new ModelChange('test.row', 'updated', pk));
    const shown: unknown[] = [];
    const firstFrames = waiting.map((change) => cache.framesOf(change));
    const firstLists = waiting.map((change) => cache.listAfter(change, LIST, undefined, shown, false, () => [change.pk]));
    // The oldest are no longer held for it: the late subscriber computes its own (the same answer, not the kept one).
    const late = waiting[0]!;
    expect(cache.framesOf(late)).not.toBe(firstFrames[0]);
    const again = cache.listAfter(late, LIST, undefined, shown, false, () => [late.pk]);
    expect(again).toEqual([late.pk]);
    expect(again).not.toBe(firstLists[0]);
    // A late subscriber's change computed again is not kept either, so it pushes none of the latest out.
    expect(cache.framesOf(late)).not.toBe(cache.framesOf(late));
    const latest = waiting.at(-1)!;
    expect(cache.framesOf(latest)).toBe(firstFrames.at(-1));
    expect(cache.listAfter(latest, LIST, undefined, shown, false, () => ['recomputed'])).toBe(firstLists.at(-1));
  });

  it('keeps liveReload answers for at most MAX_SHARED_RELOADS reload keys per scope: tabs with further keys reload alone', () => {
    const cache = new LiveRowCache();
    const refetch = ModelChange.refetch('test.row');
    let runs = 0;
    const reload = (key: string) => cache.reloadOf(refetch, LIST, undefined, key, () => ((runs += 1), [key]));
    for (let tab = 0; tab < 2 * MAX_SHARED_RELOADS; tab++) expect(reload(`key ${tab}`)).toEqual([`key ${tab}`]);
    expect(runs).toBe(2 * MAX_SHARED_RELOADS);
    // The first keys are shared; a key past the bound is run again by each tab that has it.
    reload('key 0');
    expect(runs).toBe(2 * MAX_SHARED_RELOADS);
    reload(`key ${MAX_SHARED_RELOADS}`);
    expect(runs).toBe(2 * MAX_SHARED_RELOADS + 1);
  });
});

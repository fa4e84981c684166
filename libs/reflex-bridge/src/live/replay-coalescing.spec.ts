import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { listAfterChange } from './live-list-apply.js';
import { ModelChange, type ModelChangeAction } from './model-change.js';
import { coalesceReplay } from './replay-coalescing.js';

type Row = Record<string, unknown>;
const LABEL = 'test.row';

/** The list after applying `changes` in order to `shown`, each change's row given by `rowOf`. */
function replay(shown: readonly Row[], changes: readonly ModelChange[], rowOf: (change: ModelChange) => Row | undefined, paginated: boolean): readonly Row[] {
  let list = shown;
  for (const change of changes) list = listAfterChange(list, 'id', change, change.isDelete ? undefined : rowOf(change), paginated);
  return list;
}

const ids = fc.integer({ min: 1, max: 6 });
/** A primary key as a number or a string: the rules match keys by `String(pk)`. */
const pk = fc.tuple(ids, fc.boolean()).map(([id, asString]) => (asString ? String(id) : id));
const action = fc.constantFrom<ModelChangeAction>('created', 'updated', 'deleted');
/** Lists with unique keys (primary keys), in any order. */
const list = fc.uniqueArray(ids, { maxLength: 6 }).map((keys) => keys.map((id) => ({ id, v: `loaded-${id}` })));

describe('coalesceReplay', () => {
  it('gives the list replaying every change gives, with liveRow reading each row as it is now (or out of scope)', () => {
    fc.assert(
      fc.property(
        list,
        fc.array(fc.tuple(pk, action), { maxLength: 30 }),
        // The database now: each key's row, or none (deleted, or out of this user's scope).
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        fc.boolean(),
        (shown, made, visible, paginated) => {
          const changes = made.map(([key, act]) => new ModelChange(LABEL, act, key));
          const rowOf = (change: ModelChange) => (visible[Number(change.pk)] ? { id: Number(change.pk), v: 'now' } : undefined);
          const steps = coalesceReplay(changes, false);
          expect(replay(shown, steps.map((step) => step.change), rowOf, paginated)).toEqual(replay(shown, changes, rowOf, paginated));
          // One row computation per key at most; a step's row is its source's, and the source is a recorded change.
          const computed = steps.filter((step) => !step.change.isDelete).map((step) => String(step.change.pk));
          expect(new Set(computed).size).toBe(computed.length);
          for (const step of steps) expect(changes).toContain(step.source);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('gives the list replaying every change gives, with rows from change data (a change without data removes)', () => {
    fc.assert(
      fc.property(
        list,
        fc.array(fc.tuple(pk, action, fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined })), { maxLength: 30 }),
        fc.boolean(),
        (shown, made, paginated) => {
          const changes = made.map(([key, act, v]) => new ModelChange(LABEL, act, key, v === undefined ? undefined : { id: Number(key), v }));
          const rowOf = (change: ModelChange) => change.data;
          const steps = coalesceReplay(changes, true);
          expect(replay(shown, steps.map((step) => step.change), rowOf, paginated)).toEqual(replay(shown, changes, rowOf, paginated));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('keeps the order of appended rows, and re-appends a row deleted and created again', () => {
    const made: Array<[number, ModelChangeAction]> = [
      [1, 'created'],
      [2, 'created'],
      [1, 'updated'],
      [3, 'created'],
      [3, 'deleted'],
      [2, 'updated'],
      [3, 'created'],
      [3, 'updated'],
    ];
    const changes = made.map(([key, act]) => new ModelChange(LABEL, act, key));
    const steps = coalesceReplay(changes, false);
    expect(steps.map((step) => `${step.change.action} ${step.change.pk}`)).toEqual(['created 1', 'created 2', 'deleted 3', 'created 3']);
    // Created, then updated: applied as a creation, with the latest change's row.
    expect(steps[0]!.source).toBe(changes[2]);
    const rowOf = (change: ModelChange) => ({ id: Number(change.pk), v: 'now' });
    expect(replay([{ id: 3, v: 'loaded' }], steps.map((step) => step.change), rowOf, false).map((row) => row['id'])).toEqual([1, 2, 3]);
  });

  it('replays a key in full when rows come from data and one of its changes has none', () => {
    const changes = [new ModelChange(LABEL, 'created', 1, { id: 1 }), new ModelChange(LABEL, 'updated', 1), new ModelChange(LABEL, 'updated', 2, { id: 2 }), new ModelChange(LABEL, 'updated', 2, { id: 2 })];
    expect(coalesceReplay(changes, true).map((step) => step.change)).toEqual([changes[0], changes[1], changes[3]]);
  });
});

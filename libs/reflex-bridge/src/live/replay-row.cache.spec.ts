import { describe, expect, it } from '@jest/globals';
import type { LiveListDefinition } from './live-list.decorator.js';
import { ModelChange } from './model-change.js';
import { MAX_REPLAY_USERS, ReplayRowCache } from './replay-row.cache.js';

const LIST: LiveListDefinition = { property: 'rows', label: 'test.row', key: 'id', paginated: false };
const copyOf = (change: ModelChange) => new ModelChange(change.modelLabel, change.action, change.pk, change.data, change.origin);

describe('ReplayRowCache', () => {
  it('shares a row between the replayed copies of one recorded change, per user, and computes any other change', () => {
    const cache = new ReplayRowCache();
    const recorded = new ModelChange('test.row', 'updated', 1);
    let computed = 0;
    const row = () => ({ id: 1, n: ++computed });
    const replayed = () => {
      const copy = copyOf(recorded);
      cache.replays(copy, recorded);
      return copy;
    };
    const first = cache.rowOf(replayed(), LIST, undefined, row);
    expect(cache.rowOf(replayed(), LIST, undefined, row)).toBe(first);
    expect(computed).toBe(1);
    cache.rowOf(replayed(), LIST, { id: 7 }, row);
    expect(computed).toBe(2);
    // A change no replay handed out (the live fan-out's) is computed: LiveRowCache shares it per scope.
    cache.rowOf(recorded, LIST, undefined, row);
    cache.rowOf(recorded, LIST, undefined, row);
    expect(computed).toBe(4);
  });

  it(`keeps rows for ${MAX_REPLAY_USERS} users per recorded change and list`, async () => {
    const cache = new ReplayRowCache();
    const recorded = new ModelChange('test.row', 'updated', 1);
    let computed = 0;
    const replayed = () => {
      const copy = copyOf(recorded);
      cache.replays(copy, recorded);
      return copy;
    };
    const users = Array.from({ length: MAX_REPLAY_USERS + 1 }, (_, id) => ({ id }));
    for (const user of [...users, ...users]) cache.rowOf(replayed(), LIST, user, () => ++computed);
    expect(computed).toBe(MAX_REPLAY_USERS + 2);
  });

  it('keeps no failure: the replays already waiting share a rejection, the next one computes again', async () => {
    const cache = new ReplayRowCache();
    const recorded = new ModelChange('test.row', 'updated', 1);
    const replayed = () => {
      const copy = copyOf(recorded);
      cache.replays(copy, recorded);
      return copy;
    };
    let failing = true;
    const compute = () => (failing ? Promise.reject(new Error('database down')) : Promise.resolve({ id: 1 }));
    const rejected = cache.rowOf(replayed(), LIST, 'other', compute) as Promise<unknown>;
    expect(cache.rowOf(replayed(), LIST, 'other', compute)).toBe(rejected);
    await expect(rejected).rejects.toThrow('database down');
    failing = false;
    await expect(cache.rowOf(replayed(), LIST, 'other', compute)).resolves.toEqual({ id: 1 });
    expect(() =>
      cache.rowOf(replayed(), LIST, 'thrown', () => {
        throw new Error('database down');
      }),
    ).toThrow('database down');
    expect(cache.rowOf(replayed(), LIST, 'thrown', () => 'row')).toBe('row');
  });
});

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Type } from '@nestjs/common';
import type { StateDefinition } from '../state/state-definition.js';
import { StateView, peekVar } from '../state/state-view.js';
import { applyLiveChange } from './live-list-apply.js';
import type { LiveListDefinition } from './live-list.decorator.js';
import { isCollected } from '../common/collectable.spec.support.js';
import { LiveRowCache, MAX_CACHED_CHANGES } from './live-row.cache.js';
import { ModelChange, type ModelChangeAction } from './model-change.js';

interface Row {
  id: number;
  name: string;
  owner?: string;
}

const LIST: LiveListDefinition = { property: 'rows', label: 'test.row', key: 'id', paginated: false };

/** A catalogue state: `liveRow` counts its calls (a database read in an app) and hides owned rows from others. */
class CatalogueState {
  rows: Row[] = [];
  static reads = 0;
  static readonly db = new Map<number, Row>();

  liveRow(change: ModelChange, user?: string): Row | undefined {
    CatalogueState.reads += 1;
    const row = CatalogueState.db.get(Number(change.pk));
    return row && (!row.owner || row.owner === user) ? row : undefined;
  }
}

function definition(): StateDefinition {
  const instance = new CatalogueState();
  return {
    cls: CatalogueState as Type,
    name: 'catalogue_state',
    fullName: 'reflex___state____state.catalogue_state',
    instance,
    vars: new Map(Object.entries(instance)),
    computed: new Map(),
    computedDeps: new Map(),
    handlers: new Map(),
  };
}

/** One subscriber's stored state and the view a live change is applied through, as the pipeline's `modify` does. */
function subscriber(def: StateDefinition, rows: Row[]): { view: StateView; state: Record<string, unknown>; stored: { rows: Row[] } } {
  const stored = { rows };
  const view = new StateView(def, stored);
  return { view, state: view.target, stored };
}

describe('applyLiveChange', () => {
  it('computes a change’s row once per scope: once for every anonymous subscriber, once per user', async () => {
    const def = definition();
    CatalogueState.reads = 0;
    CatalogueState.db.set(1, { id: 1, name: 'tea' });
    const cache = new LiveRowCache();
    const change = new ModelChange('test.row', 'created', 1);
    const anonymous = Array.from({ length: 50 }, () => subscriber(def, []));
    await Promise.all(anonymous.map(({ state }) => applyLiveChange(state, LIST, change, undefined, cache)));
    expect(CatalogueState.reads).toBe(1);
    for (const { view } of anonymous) expect(view.changes()).toEqual({ rows: [{ id: 1, name: 'tea' }] });

    const users = ['ann', 'bob', 'ann'].map((user) => ({ user, ...subscriber(def, []) }));
    await Promise.all(users.map(({ state, user }) => applyLiveChange(state, LIST, change, user, cache)));
    expect(CatalogueState.reads).toBe(3); // ann and bob; the second ann subscriber shares the first one's row

    // A new change is a new scope.
    await applyLiveChange(anonymous[0].state, LIST, new ModelChange('test.row', 'updated', 1), undefined, cache);
    expect(CatalogueState.reads).toBe(4);
  });

  it('keeps per-user scoping: a row only its owner may see reaches the owner alone, and leaves the others’ lists', async () => {
    const def = definition();
    const owned = { id: 2, name: 'private note', owner: 'ann' };
    CatalogueState.db.set(2, owned);
    const cache = new LiveRowCache();
    const shownBefore = { id: 2, name: 'was public' };
    const ann = subscriber(def, [shownBefore]);
    const bob = subscriber(def, [shownBefore]);
    const change = new ModelChange('test.row', 'updated', 2);
    await applyLiveChange(ann.state, LIST, change, 'ann', cache);
    await applyLiveChange(bob.state, LIST, change, 'bob', cache);
    expect(ann.view.changes()).toEqual({ rows: [owned] });
    expect(bob.view.changes()).toEqual({ rows: [] });
  });

  it('does not copy the rows a list keeps: the new list holds the same row objects and the stored list is untouched', async () => {
    const def = definition();
    const kept = Array.from({ length: 1000 }, (_, id) => ({ id: id + 100, name: `row ${id}` }));
    const sub = subscriber(def, kept);
    CatalogueState.db.set(3, { id: 3, name: 'new' });
    await applyLiveChange(sub.state, LIST, new ModelChange('test.row', 'created', 3), undefined, new LiveRowCache());
    const next = sub.view.changes()['rows'] as Row[];
    expect(next).toHaveLength(1001);
    expect(next[0]).toBe(kept[0]);
    expect(next[999]).toBe(kept[999]);
    expect(sub.stored.rows).toHaveLength(1000);
  });

  it('puts liveRow\'s row into lists as JSON makes it (an entity\'s Date as its ISO text), once per scope, shared by its subscribers', async () => {
    class ProductEntity {
      constructor(
        readonly id: number,
        readonly at: Date,
      ) {}
    }
    for (const asynchronous of [false, true]) {
      const entity = new ProductEntity(9, new Date(0));
      const state = (rows: unknown[]) => ({ rows, liveRow: () => (asynchronous ? Promise.resolve(entity) : entity) });
      const cache = new LiveRowCache();
      const change = new ModelChange('test.row', 'created', 9);
      const subscribers = [state([]), state([])];
      await Promise.all(subscribers.map((sub) => applyLiveChange(sub, LIST, change, undefined, cache)));
      for (const sub of subscribers) expect(sub.rows).toStrictEqual([{ id: 9, at: '1970-01-01T00:00:00.000Z' }]);
      expect(subscribers[0].rows[0]).toBe(subscribers[1].rows[0]);
    }
  });

  it('removes deleted rows and does not insert into a paginated list', async () => {
    const def = definition();
    CatalogueState.db.set(4, { id: 4, name: 'four' });
    const sub = subscriber(def, [{ id: 4, name: 'four' }, { id: 5, name: 'five' }]);
    await applyLiveChange(sub.state, LIST, new ModelChange('test.row', 'deleted', 4), undefined, new LiveRowCache());
    expect(sub.view.changes()).toEqual({ rows: [{ id: 5, name: 'five' }] });

    const page = subscriber(def, []);
    await applyLiveChange(page.state, { ...LIST, paginated: true }, new ModelChange('test.row', 'created', 4), undefined, new LiveRowCache());
    expect(page.view.changes()).toEqual({});
  });

  it('reads no row for a change that cannot alter the list: an update of a row not shown, a creation on a paginated page', async () => {
    const def = definition();
    CatalogueState.db.set(4, { id: 4, name: 'four (renamed)' });
    CatalogueState.db.set(6, { id: 6, name: 'six' });
    CatalogueState.reads = 0;
    const page = subscriber(def, [{ id: 5, name: 'five' }]);
    await applyLiveChange(page.state, LIST, new ModelChange('test.row', 'updated', 4), undefined, new LiveRowCache());
    await applyLiveChange(page.state, { ...LIST, paginated: () => true }, new ModelChange('test.row', 'created', 6), undefined, new LiveRowCache());
    expect(page.view.changes()).toEqual({});
    // Before: one liveRow read (a database query in an app) per change, for a row the list then left out.
    expect(CatalogueState.reads).toBe(0);
    // A row the page shows is still read and replaced, paginated or not.
    await applyLiveChange(page.state, { ...LIST, paginated: true }, new ModelChange('test.row', 'created', 5), undefined, new LiveRowCache());
    expect(CatalogueState.reads).toBe(1);
  });

  it('shares a failing row computation’s error with every subscriber of the scope, computed once', async () => {
    const cache = new LiveRowCache();
    let calls = 0;
    const failing = {
      rows: [] as Row[],
      liveRow: () => {
        calls += 1;
        return Promise.reject(new Error('database down'));
      },
    };
    const change = new ModelChange('test.row', 'created', 9);
    await expect(applyLiveChange(failing, LIST, change, undefined, cache)).rejects.toThrow('database down');
    await expect(applyLiveChange({ ...failing, rows: [] }, LIST, change, undefined, cache)).rejects.toThrow('database down');
    expect(calls).toBe(1);
  });

  it('shares the new list between subscribers that showed the same rows, and gives each the list it would get alone', async () => {
    const USERS = [undefined, 'ann', 'bob'] as const;
    const scenario = fc.record({
      // Subscribers: a user, and which of three starting lists they show (as the same array, or a copy of it).
      subscribers: fc.array(fc.record({ user: fc.constantFrom(...USERS), start: fc.nat(2), copy: fc.boolean() }), { minLength: 1, maxLength: 12 }),
      changes: fc.array(
        fc.record({ action: fc.constantFrom<ModelChangeAction>('created', 'updated', 'deleted'), pk: fc.integer({ min: 1, max: 6 }), owner: fc.constantFrom(undefined, 'ann', 'bob') }),
        { maxLength: 15 },
      ),
      paginated: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ subscribers, changes, paginated }) => {
        const def = definition();
        const list: LiveListDefinition = { ...LIST, paginated: paginated ? (state: object) => (peek(state).length >= 3) : false };
        const db = new Map<number, Row>();
        const starts: Row[][] = [[], [{ id: 1, name: 'one' }], [{ id: 1, name: 'one' }, { id: 2, name: 'two' }]];
        const liveRow = (change: ModelChange, user: unknown): Row | undefined => {
          const row = db.get(Number(change.pk));
          return row && (!row.owner || row.owner === user) ? row : undefined;
        };
        const shared = subscribers.map(({ start, copy }) => ({ rows: copy ? [...starts[start]] : starts[start] }) as Record<string, unknown>);
        const alone = subscribers.map(({ start }) => ({ rows: starts[start] }) as Record<string, unknown>);
        const touched = subscribers.map(() => false);
        const apply = async (stored: Record<string, unknown>, change: ModelChange, user: string | undefined, cache?: LiveRowCache) => {
          const view = new StateView(def, stored);
          const state = view.target as Record<string, unknown> & { liveRow: typeof liveRow };
          state.liveRow = liveRow;
          await applyLiveChange(state, list, change, user, cache);
          return { ...stored, ...view.changes() };
        };
        for (const { action, pk, owner } of changes) {
          if (action === 'deleted') db.delete(pk);
          else db.set(pk, { id: pk, name: `${action} ${pk}`, ...(owner ? { owner } : {}) });
          const change = new ModelChange('test.row', action, pk);
          const cache = new LiveRowCache();
          for (const [i, { user }] of subscribers.entries()) {
            const before = shared[i]['rows'];
            shared[i] = await apply(shared[i], change, user, cache);
            if (shared[i]['rows'] !== before) touched[i] = true;
            alone[i] = await apply(alone[i], change, user);
          }
          // What each subscriber holds is what it would hold had the change been applied to it alone.
          expect(shared).toEqual(alone);
        }
        // Subscribers of one user that started from the same rows have the same history: once a change changed
        // their lists, they hold the very same array (so their deltas share one frame).
        for (const [i, a] of subscribers.entries()) {
          for (const [j, b] of subscribers.entries()) {
            if (a.user === b.user && a.start === b.start && touched[i] && touched[j]) expect(shared[i]['rows']).toBe(shared[j]['rows']);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a refetch re-reads every shown row through liveRow: changed rows replaced, gone or hidden rows removed', async () => {
    const def = definition();
    CatalogueState.db.clear();
    CatalogueState.db.set(1, { id: 1, name: 'tea (renamed in bulk)' });
    CatalogueState.db.set(3, { id: 3, name: 'jam', owner: 'bob' });
    const shown = [
      { id: 1, name: 'tea' },
      { id: 2, name: 'deleted in bulk' },
      { id: 3, name: 'jam' },
    ];
    CatalogueState.reads = 0;
    const refetch = ModelChange.refetch('test.row');
    const tabs = Array.from({ length: 50 }, () => subscriber(def, shown));
    // One cache for the worker's subscribers, as LiveListSubscriptions has.
    const cache = new LiveRowCache();
    await Promise.all(tabs.map(({ state }) => applyLiveChange(state, LIST, refetch, 'ann', cache)));
    for (const { view } of tabs) expect(view.changes()).toEqual({ rows: [{ id: 1, name: 'tea (renamed in bulk)' }] });
    // Each shown row read once for the 50 tabs of one user (150 reads before the reads were shared).
    expect(CatalogueState.reads).toBe(3);
  });

  it('a refetch leaves a list whose rows come from change data as it is (a refetch carries none)', () => {
    const state = { rows: [{ id: 1, name: 'tea' }] };
    const before = state.rows;
    expect(applyLiveChange(state, LIST, ModelChange.refetch('test.row'), undefined)).toBeUndefined();
    expect(state.rows).toBe(before);
  });

  it('a refetch gives each state class the rows its own liveRow reads, not those another class read for the same change', async () => {
    const cache = new LiveRowCache();
    const refetch = ModelChange.refetch('test.row');
    // Two public states showing the same model: the catalogue shows names, the staff page its own projection.
    const catalogue = { rows: [{ id: 1, name: 'tea' }] as unknown[], liveRow: (change: ModelChange) => ({ id: Number(change.pk), name: 'tea (renamed)' }) };
    const staff = { rows: [{ id: 1, name: 'tea', cost: 2 }] as unknown[], liveRow: (change: ModelChange) => ({ id: Number(change.pk), name: 'tea (renamed)', cost: 3 }) };
    await applyLiveChange(catalogue, LIST, refetch, undefined, cache);
    await applyLiveChange(staff, { ...LIST }, refetch, undefined, cache);
    expect(catalogue.rows).toEqual([{ id: 1, name: 'tea (renamed)' }]);
    // Before: the staff page got the catalogue's row (read first for this change and user), without its cost.
    expect(staff.rows).toEqual([{ id: 1, name: 'tea (renamed)', cost: 3 }]);
  });

  it('the rows a refetch read are let go once newer changes were computed for, though the change itself is kept', async () => {
    const cache = new LiveRowCache();
    // The broadcaster keeps each change it received for 30 s (for late subscribers): this refetch stays alive.
    const refetch = ModelChange.refetch('test.row');
    // A tab applies it and closes; the row as read (in its JSON form) is what it showed.
    const readByATab = async () => {
      const tab = { rows: [{ id: 1, name: 'tea' }] as unknown[], liveRow: (change: ModelChange) => ({ id: Number(change.pk), name: 'x'.repeat(1000) }) };
      await applyLiveChange(tab, LIST, refetch, 'ann', cache);
      return new WeakRef(tab.rows[0] as object);
    };
    const read = await readByATab();
    for (let i = 0; i <= MAX_CACHED_CHANGES; i++) await applyLiveChange({ rows: [] }, LIST, new ModelChange('test.row', 'deleted', i), undefined, cache);
    // Before: kept with the change, per user and row, for as long as the change lived (10,000 refetches of 1,000
    // users' 50 rows: 500 million rows).
    expect(await isCollected(read)).toBe(true);
    expect(refetch.isRefetch).toBe(true);
  });

  it('a refetch makes the list what liveReload answers (as JSON); undefined re-reads the rows shown; a non-list is refused', async () => {
    CatalogueState.db.clear();
    CatalogueState.db.set(1, { id: 1, name: 'tea (renamed)' });
    const at = new Date('2026-01-02T03:04:05.000Z');
    const reloading = {
      rows: [{ id: 1, name: 'tea' }] as unknown[],
      answer: undefined as unknown,
      liveRow: (change: ModelChange) => CatalogueState.db.get(Number(change.pk)),
      async liveReload(this: { answer: unknown }, property: string) {
        expect(property).toBe('rows');
        return this.answer;
      },
    };
    reloading.answer = [{ id: 1, name: 'tea' }, { id: 2, name: 'moved in by a bulk update', at }];
    await applyLiveChange(reloading, LIST, ModelChange.refetch('test.row'), undefined);
    expect(reloading.rows).toEqual([{ id: 1, name: 'tea' }, { id: 2, name: 'moved in by a bulk update', at: at.toISOString() }]);
    reloading.answer = undefined;
    await applyLiveChange(reloading, LIST, ModelChange.refetch('test.row'), undefined);
    expect(reloading.rows).toEqual([{ id: 1, name: 'tea (renamed)' }]);
    reloading.answer = { id: 1 };
    await expect(applyLiveChange(reloading, LIST, ModelChange.refetch('test.row'), undefined)).rejects.toThrow(/liveReload\("rows"\) must answer an array/);
    expect(reloading.rows).toEqual([{ id: 1, name: 'tea (renamed)' }]);
  });
});

/** The list without the copy a read through the view makes (as a real `paginated` function should read it). */
function peek(state: object): unknown[] {
  return (peekVar(state, 'rows') as unknown[] | undefined) ?? [];
}

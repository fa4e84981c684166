import type { LiveListDefinition } from './live-list.decorator.js';
import { LiveFramePool } from './live-frame.pool.js';
import type { ModelChange } from './model-change.js';
import { ReplayRowCache } from './replay-row.cache.js';

/** Distinct lists (by content) one scope shares results for; subscribers past that many still get correct lists. */
export const MAX_SHARED_LISTS = 8;

/**
 * Distinct reload keys one scope keeps `liveReload` answers for (see {@link LiveRowCache.reloadOf}); subscribers with
 * further keys reload alone. A key is made of client vars: without a bound, tabs that each chose their own (a category
 * typed into a search box) would keep one whole list per tab alive in this worker for each of the latest changes,
 * beside the copy their state already holds (in Redis, with a Redis store).
 */
export const MAX_SHARED_RELOADS = 32;

/**
 * Changes whose results are kept for the subscribers still to apply them: the latest ones a subscriber applied
 * first. A fan-out applies one change to every subscriber before the next (each subscriber takes its changes in
 * turn), so the subscribers that keep up share the results of the last one or two; a subscriber further behind
 * than this computes its own.
 */
export const MAX_CACHED_CHANGES = 64;

/** What one scope (change, list, user) computed, shared by the subscribers in it. */
class Scope {
  hasRow = false;
  row: unknown = undefined;
  /** Set when computing the row threw: the error each subscriber in the scope gets, as a rejection is shared. */
  threw: { error: unknown } | undefined = undefined;
  /** For a `refetch`: each shown row read again, by primary key (as text), a promise while the read runs. */
  refetched: Map<string, unknown> | undefined = undefined;
  /** For a `refetch`: `liveReload`'s answer (a promise while it runs, or the error it threw) by the list's reload key. */
  reloads: Map<string, { value: unknown } | { threw: unknown }> | undefined = undefined;
  /** The list after the change, by the list before it (identity), for unpaginated and paginated lists. */
  readonly after: [Map<readonly unknown[], readonly unknown[]>, Map<readonly unknown[], readonly unknown[]>] = [new Map(), new Map()];
  /** Lists before the change with distinct contents, the keys a list equal by content is matched against. */
  readonly distinct: [Array<readonly unknown[]>, Array<readonly unknown[]>] = [[], []];
}

/** What one change computed: its scopes, and the frames of its deltas. */
interface ChangeEntry {
  scopes?: Map<LiveListDefinition, Map<unknown, Scope>>;
  frames?: LiveFramePool;
}

/** Same length and the very same elements in the same order. */
function sameElements(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What live changes compute, once per scope instead of once per subscriber: a scope is one change, one live
 * list (so one state class's `liveRow`) and one subscriber user (`undefined` on a `none`-tier state, so every
 * subscriber of a public list shares one scope). A change published to 10,000 subscribers of a public list
 * runs `liveRow` (often a database read) once, not 10,000 times; and subscribers that showed the same list
 * (the same rows, as objects) get the very same new list, so their deltas are the same and share one encoded
 * frame ({@link framesOf}).
 *
 * Entries live as long as the change does (the broadcaster hands every subscriber the same `ModelChange`, and
 * once the last one has applied it nothing holds it and its entries go with it), and at most while it is one of
 * the {@link MAX_CACHED_CHANGES} latest changes computed for. A subscriber that does not keep up (its own event
 * holds its state for minutes) holds up to `live.bufferSize` changes waiting; without that bound each of them
 * kept every scope's lists and the encoded frames of the whole list for as long: a public list of 300 rows with
 * 1,000 changes waiting for one stalled tab held 58 MB. A change past the bound is computed again for each late
 * subscriber that applies it, and shared with none (which keeps a late subscriber from pushing the current
 * changes out).
 */
export class LiveRowCache {
  private readonly entries = new WeakMap<ModelChange, ChangeEntry>();
  /** The changes with entries, oldest first: weakly, so a change every subscriber applied still goes at once. */
  private readonly order: Array<WeakRef<ModelChange>> = [];
  /** Changes whose entries were dropped for newer ones: computed per subscriber from then on. */
  private readonly retired = new WeakSet<ModelChange>();

  /**
   * @param replayed the rows shared across replays: a replayed change's row, once no subscriber of its scope has
   *   it, comes from there (see {@link ReplayRowCache}).
   */
  constructor(readonly replayed = new ReplayRowCache()) {}

  /**
   * The row for `change` in `list` as `user` sees it: `compute()`'s answer, computed by the first subscriber of
   * that scope to ask and shared (a promise too, and a rejection or a throw, which each subscriber then reports)
   * with the others: a `liveRow` that throws (its database is down) is called once per scope, not once per
   * subscriber.
   */
  rowOf(change: ModelChange, list: LiveListDefinition, user: unknown, compute: () => unknown): unknown {
    const scope = this.scopeOf(change, list, user);
    if (scope.threw) throw scope.threw.error;
    if (!scope.hasRow) {
      try {
        // Once per scope: a replayed copy's row may have been computed by another replay of its recorded change.
        scope.row = this.replayed.rowOf(change, list, user, compute);
      } catch (error) {
        scope.threw = { error };
        throw error;
      }
      scope.hasRow = true;
    }
    return scope.row;
  }

  /**
   * The list after `change` for a subscriber in scope (change, list, user) that showed `shown`: `compute()`'s
   * answer for the first subscriber that showed a list with these elements, the same array for the others. A
   * list is matched by identity, then by its elements (the same objects in the same order), so subscribers that
   * hydrated their own copies of an equal list converge on one array after the first change.
   */
  listAfter<T>(change: ModelChange, list: LiveListDefinition, user: unknown, shown: readonly T[], paginated: boolean, compute: () => readonly T[]): readonly T[] {
    const scope = this.scopeOf(change, list, user);
    const index = paginated ? 1 : 0;
    const after = scope.after[index];
    const known = after.get(shown);
    if (known !== undefined) return known as readonly T[];
    const distinct = scope.distinct[index];
    for (const other of distinct) {
      if (sameElements(other, shown)) {
        const shared = after.get(other)!;
        // Unchanged by the change: this subscriber keeps its own list (writing the other's would only be
        // compared back to equal).
        if (shared === other) return shown;
        after.set(shown, shared);
        return shared as readonly T[];
      }
    }
    const next = compute();
    // Past MAX_SHARED_LISTS distinct lists, each further one is computed on its own (still correct, not shared).
    if (distinct.length < MAX_SHARED_LISTS) {
      distinct.push(shown);
      after.set(shown, next);
    }
    return next;
  }

  /**
   * The rows a `refetch` read again for scope (change, list, user), by primary key: filled by the first subscriber
   * of the scope to need each row and shared with the others (10,000 tabs showing the same 50 rows make 50 reads,
   * not 500,000). Per list, so two state classes showing one model each get their own `liveRow`'s rows; and kept
   * only as long as the other results of the change (see {@link MAX_CACHED_CHANGES}), not for as long as the
   * broadcaster keeps the change for late subscribers.
   */
  refetchedOf(change: ModelChange, list: LiveListDefinition, user: unknown): Map<string, unknown> {
    const scope = this.scopeOf(change, list, user);
    return (scope.refetched ??= new Map());
  }

  /**
   * The answer of a `liveReload` for scope (change, list, user) and the subscriber's reload key (see
   * `LiveListOptions.reloadKey`): `compute()`'s, run by the first subscriber with that key and shared (a promise,
   * a rejection or a throw too) with the others, so 500 tabs of one public list run one query per refetch, not
   * 500. Never shared across users: the scope is per user.
   */
  reloadOf(change: ModelChange, list: LiveListDefinition, user: unknown, key: string, compute: () => unknown): unknown {
    const reloads = (this.scopeOf(change, list, user).reloads ??= new Map());
    let known = reloads.get(key);
    if (known === undefined) {
      try {
        known = { value: compute() };
      } catch (threw) {
        known = { threw };
      }
      if (reloads.size < MAX_SHARED_RELOADS) reloads.set(key, known);
    }
    if ('threw' in known) throw known.threw;
    return known.value;
  }

  /** The frames of `change`'s deltas, shared by the subscribers whose delta is the same. */
  framesOf(change: ModelChange): LiveFramePool {
    const entry = this.entryOf(change);
    if (!entry) return new LiveFramePool();
    return (entry.frames ??= new LiveFramePool());
  }

  /** The entry of `change`, made when it has none (dropping the oldest past the bound); none for a retired change. */
  private entryOf(change: ModelChange): ChangeEntry | undefined {
    let entry = this.entries.get(change);
    if (entry !== undefined) return entry;
    if (this.retired.has(change)) return undefined;
    this.entries.set(change, (entry = {}));
    this.order.push(new WeakRef(change));
    if (this.order.length > MAX_CACHED_CHANGES) {
      const oldest = this.order.shift()!.deref();
      if (oldest !== undefined) {
        this.entries.delete(oldest);
        this.retired.add(oldest);
      }
    }
    return entry;
  }

  private scopeOf(change: ModelChange, list: LiveListDefinition, user: unknown): Scope {
    const entry = this.entryOf(change);
    if (!entry) return new Scope();
    const byList = (entry.scopes ??= new Map());
    let byUser = byList.get(list);
    if (!byUser) byList.set(list, (byUser = new Map()));
    let scope = byUser.get(user);
    if (!scope) byUser.set(user, (scope = new Scope()));
    return scope;
  }
}

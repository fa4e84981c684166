import { isThenable } from '../common/maybe-promise.js';
import type { LiveListDefinition } from './live-list.decorator.js';
import type { ModelChange } from './model-change.js';

/** Users per (recorded change, list) whose rows are shared across replays; the others' are computed per replay. */
export const MAX_REPLAY_USERS = 8;

/**
 * The rows late subscribers' replays compute, shared across the replays of one recorded change: one `liveRow`
 * call per (recorded change, list, user) while the worker keeps the change (30 s, `live.bufferSize` per label),
 * however many tabs replay it.
 *
 * A replay hands each subscriber its own copies of the recorded changes (so that the lists and frames
 * `LiveRowCache` shares per change object are not kept for the whole window), so that cache shared nothing
 * across replays: 10 tabs that subscribed after 1,000 changes called `liveRow` (a database read) 10,000 times,
 * and a client could make it call it again at will by loading a page and subscribing, on as many sockets as it
 * liked. Here only rows are kept, by the recorded change (weakly: they go with it), for at most
 * {@link MAX_REPLAY_USERS} users (by identity, as `LiveRowCache` keys them: every subscriber of a
 * `none`-tier state shares one) per list.
 *
 * A replay's row is read a little later than the change's fan-out read it, and may be reused for up to the window:
 * the replay applies each row's latest change only (see `coalesceReplay`), whose row was computed after that
 * change was received, so a subscriber ends with the row as fresh as the live fan-out would have given it. A
 * failed computation (a throw, a rejection) is not kept: the next replay tries again.
 */
export class ReplayRowCache {
  /** The recorded change each replayed copy stands for. */
  private readonly sources = new WeakMap<ModelChange, ModelChange>();
  private readonly rows = new WeakMap<ModelChange, Map<LiveListDefinition, Map<unknown, unknown>>>();

  /** Marks `copy`, handed to one subscriber by a replay, as applying the row of the recorded change `source`. */
  replays(copy: ModelChange, source: ModelChange): void {
    this.sources.set(copy, source);
  }

  /**
   * The row of `change` in `list` for `user`: the one a replay of the same recorded change computed for them, else
   * `compute()`'s (kept for the next replays when it did not throw or reject). Just `compute()` for a change that
   * is not a replay's.
   */
  rowOf(change: ModelChange, list: LiveListDefinition, user: unknown, compute: () => unknown): unknown {
    const source = this.sources.get(change);
    if (source === undefined) return compute();
    let byList = this.rows.get(source);
    if (!byList) this.rows.set(source, (byList = new Map()));
    let byUser = byList.get(list);
    if (!byUser) byList.set(list, (byUser = new Map()));
    if (byUser.has(user)) return byUser.get(user);
    const row = compute();
    if (byUser.size >= MAX_REPLAY_USERS) return row;
    byUser.set(user, row);
    if (isThenable(row)) {
      // A rejection is shared with the replays already waiting on it, not with later ones.
      Promise.resolve(row).then(undefined, () => {
        if (byUser.get(user) === row) byUser.delete(user);
      });
    }
    return row;
  }
}

// Bench states of the ext benchmarks (fast-auth, state-store, live-latency). Full names on the wire:
// see EXT_STATES below (root name + class name in snake_case).
import { AppState, BridgeTier, EventHandler, LiveList, State, type ModelChange } from '@reflex-bridge/nest';
import { ROOT } from '../harness/wire.js';
import type { BenchUser } from '../server/auth-stack.js';

export const EXT_STATES = {
  auth: `${ROOT}.session_bench_state`,
  store: `${ROOT}.store_bench_state`,
  live: `${ROOT}.live_feed_state`,
} as const;

export const LIVE_LABEL = 'bench.tick';

/** AppState-derived, `auth_only`: reads the user, changes one var (the delta the lean preset trims). */
@State()
@BridgeTier('auth_only')
export class SessionBenchState extends AppState {
  count = 0;
  seen = '';

  bumpUser(): void {
    const user = this.user as BenchUser | undefined;
    if (!user) throw new Error('auth_only bench event without a user');
    this.seen = user.username;
    this.count++;
  }

  @EventHandler()
  bump(): void {
    this.bumpUser();
  }
}

/** A plain state with a few vars: what each event loads from and saves to the state store. */
@State()
export class StoreBenchState {
  count = 0;
  label = 'store bench';
  items = ['a', 'b', 'c', 'd'];

  @EventHandler()
  bump(): void {
    this.count++;
  }
}

/** One live list; rows come from `change.data` (it carries the publish timestamp). */
@State()
@BridgeTier('none')
export class LiveFeedState {
  @LiveList(LIVE_LABEL)
  ticks: { id: number; t: number }[] = [];

  liveRow(change: ModelChange): unknown {
    return change.data;
  }
}
